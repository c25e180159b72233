"""What the supplier's answers do to a customer line: a refused PO, a partial acceptance, a shipment of
units we believed cancelled (the outcome table in the README)."""

from __future__ import annotations

from decimal import Decimal

from orders_factories import RULES, later, place, shipment

from orders.adapters.message_templates import MessageTemplates
from orders.domain.effects import MessageKind, MovementKind
from orders.domain.model import LineStatus, Order, RequestedLine


def money(order: Order, kind: MovementKind) -> Decimal:
    return sum((m.amount for m in order.movements if m.kind == kind), Decimal(0))


def test_a_failed_purchase_order_rejects_the_line_releases_its_money_and_says_why() -> None:
    order = place([RequestedLine("TABLE", 2)])
    order.mark_on_purchase_order(1, "PO1", later(1))
    order.purchase_order_failed(1, "PO1", "SKU GX-9 is discontinued", later(2))
    line = order.lines[0]
    assert (line.status, line.rejected_qty, line.open_qty) == (LineStatus.REJECTED, 2, 0)
    assert money(order, MovementKind.RELEASE) == Decimal("1000")
    (message,) = [m for m in order.messages if m.kind == MessageKind.REJECTED]
    assert "SKU GX-9 is discontinued" in message.context["reason"]
    assert order.status == "cancelled"
    order.movements.clear()
    order.purchase_order_failed(1, "PO1", "again", later(3))  # a second failure changes nothing
    assert order.movements == []


def test_a_failure_of_another_po_leaves_the_line_alone() -> None:
    order = place([RequestedLine("TABLE", 2)])
    order.mark_on_purchase_order(1, "PO2", later(1))
    order.purchase_order_failed(1, "PO1", "refused", later(2))
    assert order.lines[0].status == LineStatus.ON_PURCHASE_ORDER


def test_an_acceptance_of_part_of_a_line_rejects_the_rest_for_the_customer() -> None:
    order = place([RequestedLine("TABLE", 5)])
    order.mark_on_purchase_order(1, "PO1", later(1))
    order.acknowledge(1, "PO1", "accepted", None, "only 3 left", RULES, later(2), rejected_quantity=2)
    order.acknowledge(1, "PO1", "accepted", None, "only 3 left", RULES, later(2), rejected_quantity=2)  # again
    line = order.lines[0]
    assert (line.status, line.rejected_qty, line.open_qty) == (LineStatus.ACKNOWLEDGED, 2, 3)
    assert money(order, MovementKind.RELEASE) == Decimal("1000")
    (message,) = [m for m in order.messages if m.kind == MessageKind.REJECTED]
    assert (message.context["quantity"], message.context["reason"]) == (2, "only 3 left")
    order.record_shipment(1, shipment("S1", 3), RULES, later(3))
    assert line.status == LineStatus.SHIPPED
    assert money(order, MovementKind.CAPTURE) == Decimal("1500")


def test_a_shipment_wins_over_a_cancellation_we_believed_in() -> None:
    order = place([RequestedLine("TABLE", 2)])
    order.mark_on_purchase_order(1, "PO1", later(1))
    order.cancel_line(1, later(2))
    order.resolve_cancellation(1, "cancelled", later(3))
    assert order.lines[0].status == LineStatus.CANCELLED
    order.movements.clear()
    assert order.record_shipment(1, shipment("S1", 2), RULES, later(4)) is True
    line = order.lines[0]
    assert (line.status, line.shipped_qty, line.cancelled_qty) == (LineStatus.SHIPPED, 2, 0)
    assert money(order, MovementKind.REAUTHORIZE) == Decimal("1000")
    assert money(order, MovementKind.CAPTURE) == Decimal("1000")
    assert [m.kind for m in order.messages][-1] == MessageKind.SHIPPED


def test_a_po_sent_again_after_it_failed_ships_the_rejected_line() -> None:
    order = place([RequestedLine("TABLE", 2)])
    order.mark_on_purchase_order(1, "PO1", later(1))
    order.purchase_order_failed(1, "PO1", "credit hold", later(2))
    order.movements.clear()
    order.record_shipment(1, shipment("S1", 2), RULES, later(5))  # an operator sent the PO again
    line = order.lines[0]
    assert (line.status, line.rejected_qty, line.shipped_qty) == (LineStatus.SHIPPED, 0, 2)
    assert money(order, MovementKind.REAUTHORIZE) == money(order, MovementKind.CAPTURE) == Decimal("1000")


def test_a_late_supplier_moves_the_promise_and_tells_the_customer() -> None:
    order = place([RequestedLine("TABLE", 1)])
    order.mark_on_purchase_order(1, "PO1", later(1))
    order.acknowledge(1, "PO1", "accepted", later(5).at.date(), None, RULES, later(2))
    before = order.lines[0].promised_date
    assert before is not None
    order.supplier_late(1, later(20).at.date(), RULES, later(8))
    assert order.lines[0].promised_date == later(20 + RULES.transit_days).at.date()
    assert [m.kind for m in order.messages][-1] == MessageKind.DATE_MOVED


def test_a_po_cancelled_before_it_left_rejects_the_line_or_cancels_one_the_customer_asked_to_cancel() -> None:
    order = place([RequestedLine("TABLE", 2), RequestedLine("TABLE", 1)])
    order.mark_on_purchase_order(1, "PO1", later(1))
    order.mark_on_purchase_order(2, "PO1", later(1))
    order.cancel_line(2, later(2))
    order.purchase_order_cancelled(1, "PO1", "supplier closed", later(3))
    order.purchase_order_cancelled(2, "PO1", "supplier closed", later(3))
    first, second = order.lines
    assert (first.status, first.rejected_qty, second.status) == (LineStatus.REJECTED, 2, LineStatus.CANCELLED)
    assert money(order, MovementKind.RELEASE) == Decimal("1500")
    (message,) = [m for m in order.messages if m.kind == MessageKind.REJECTED]
    assert message.context["reason"] == "the order to our supplier was cancelled (supplier closed)"
    order.movements.clear()
    order.purchase_order_cancelled(1, "PO1", "again", later(4))  # told twice: nothing more
    assert order.movements == []


def test_a_refused_cancel_tells_the_customer_the_suppliers_words() -> None:
    order = place([RequestedLine("TABLE", 1)])
    order.mark_on_purchase_order(1, "PO1", later(1))
    order.cancel_line(1, later(2))
    order.resolve_cancellation(1, "refused", later(3), "Picked and packed, on the truck")
    assert order.lines[0].status == LineStatus.ON_PURCHASE_ORDER
    (message,) = [m for m in order.messages if m.kind == MessageKind.CANCEL_REFUSED]
    rendered = MessageTemplates("Shop").render(message.kind, {"order_id": order.order_id, **message.context})
    assert "could not be cancelled" in rendered.subject
    assert '"Picked and packed, on the truck"' in rendered.body
    # a message queued before the reason was kept still renders
    older = {key: value for key, value in message.context.items() if key != "reason"}
    assert "already shipped" in MessageTemplates("Shop").render(message.kind, {"order_id": "O1", **older}).body
