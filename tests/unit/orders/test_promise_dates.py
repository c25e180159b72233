"""Promise dates: set at order time, recomputed by aggregator, supplier and shipments; delays told; slips consoled."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from orders_factories import NOW, RULES, day, later, place, shipment

from orders.adapters.message_templates import MessageTemplates
from orders.domain.effects import MessageKind
from orders.domain.model import Order, RequestedLine
from orders.domain.promise import PromiseRules, consolation_amount, deserves_delay_notice


def kinds(order: Order) -> list[MessageKind]:
    return [message.kind for message in order.messages]


def test_backordered_line_is_promised_release_plus_lead_time_plus_transit() -> None:
    order = place([RequestedLine("CHAIR", 5), RequestedLine("TABLE", 1)])  # 3 chairs in stock
    chair, table = order.lines
    # default batch wait 2 days + lead time (chair 5, table 10) + transit 3
    assert chair.promised_date == day(2 + 5 + 3)
    assert table.promised_date == day(2 + 10 + 3)
    placed = order.messages[0]
    assert placed.kind == MessageKind.BACKORDER_PLACED
    assert [line["promised_date"] for line in placed.context["lines"]] == [str(day(10)), str(day(15))]


def test_the_aggregators_known_release_estimate_is_used_at_order_time() -> None:
    order = place([RequestedLine("TABLE", 1)], release_estimates={"globex": NOW + timedelta(days=6)})
    assert order.lines[0].promised_date == day(6 + 10 + 3)


def test_a_line_in_stock_gets_no_promise_and_no_message() -> None:
    order = place([RequestedLine("CHAIR", 1)])
    assert order.lines[0].promised_date is None
    assert order.messages == []


def test_a_later_batch_release_moves_the_date_with_an_apology_and_keeps_the_history() -> None:
    order = place([RequestedLine("TABLE", 1)])
    order.messages.clear()
    order.expect_release(1, NOW + timedelta(days=4), RULES, later(0, 1, "batch.release_expected"))
    line = order.lines[0]
    assert [p.promised_date for p in line.promises] == [day(15), day(17)]
    assert [p.cause for p in line.promises] == ["order_placed", "batch.release_expected"]
    assert kinds(order) == [MessageKind.DATE_MOVED]
    assert order.messages[0].context["previous_date"] == str(day(15))
    assert order.messages[0].context["credit"] is None


def test_an_earlier_date_or_the_same_date_sends_nothing() -> None:
    order = place([RequestedLine("TABLE", 1)])
    order.messages.clear()
    order.expect_release(1, NOW + timedelta(days=1), RULES, later(0, 1))
    order.expect_release(1, NOW + timedelta(days=1), RULES, later(0, 2))
    assert order.lines[0].promised_date == day(14)
    assert len(order.lines[0].promises) == 2
    assert order.messages == []


def test_no_delay_notice_when_the_supplier_ships_within_the_quick_ship_window() -> None:
    assert not deserves_delay_notice(day(5), day(4), day(0), RULES)  # ships day 2: within 3 days
    assert deserves_delay_notice(day(9), day(4), day(0), RULES)  # ships day 6
    order = place([RequestedLine("CHAIR", 4)], products=None)  # 1 chair short: promised day 10
    order.messages.clear()
    order.mark_on_purchase_order(1, "PO1", later(8))
    order.acknowledge(1, "PO1", "accepted", day(10), None, RULES, later(8))  # ships in 2 days: quiet
    assert order.lines[0].promised_date == day(13)
    assert order.messages == []


def test_supplier_backorder_date_moves_the_promise() -> None:
    order = place([RequestedLine("TABLE", 1)])
    order.messages.clear()
    order.mark_on_purchase_order(1, "PO1", later(2))
    order.acknowledge(1, "PO1", "backordered", day(16), None, RULES, later(3))
    assert order.lines[0].promised_date == day(19)
    assert kinds(order) == [MessageKind.DATE_MOVED]


def test_a_long_slip_earns_one_consolation_credit_mentioned_in_the_message() -> None:
    order = place([RequestedLine("TABLE", 2)])  # promised day 15, 2 x 500
    order.messages.clear()
    order.mark_on_purchase_order(1, "PO1", later(2))
    order.acknowledge(1, "PO1", "backordered", day(20), None, RULES, later(3))  # day 23: 8 days late
    assert order.lines[0].credit == Decimal("100.00")  # 10 % of 1000
    assert [c.amount for c in order.credits] == [Decimal("100.00")]
    assert order.messages[-1].context["credit"] == "100.00"
    order.acknowledge(1, "PO1", "backordered", day(30), None, RULES, later(4))
    assert len(order.credits) == 1  # once per line, however often it slips again
    assert order.messages[-1].context["credit"] is None


def test_a_slip_within_the_threshold_earns_nothing() -> None:
    order = place([RequestedLine("TABLE", 1)])
    order.acknowledge(1, "PO1", "backordered", day(19), None, RULES, later(3))  # day 22: 7 days late
    assert order.credits == [] and order.lines[0].credit is None


def test_the_full_shipment_sets_the_arrival_date_and_the_shipped_message_carries_tracking() -> None:
    order = place([RequestedLine("TABLE", 2)])
    order.messages.clear()
    order.record_shipment(1, shipment("S1", 1, days=5), RULES, later(5))
    assert order.lines[0].promised_date == day(15)  # a partial shipment does not move the line's date
    order.record_shipment(1, shipment("S2", 1, days=6), RULES, later(6))
    assert order.lines[0].promised_date == day(9)
    assert kinds(order) == [MessageKind.SHIPPED, MessageKind.SHIPPED]
    first, second = order.messages
    assert (first.context["carrier"], first.context["tracking_number"], first.context["remaining"]) == (
        "UPS",
        "1ZS1",
        1,
    )
    assert second.context["remaining"] == 0


def test_consolation_rounds_to_cents() -> None:
    rules = PromiseRules(consolation_percent=Decimal("7.5"))
    assert consolation_amount(3, Decimal("19.99"), rules) == Decimal("4.50")


def test_an_escalated_batch_tells_waiting_customers_once_and_not_the_others() -> None:
    order = place([RequestedLine("TABLE", 2), RequestedLine("CHAIR", 1)])
    order.messages.clear()
    order.batch_escalated(1, NOW)
    order.batch_escalated(2, NOW)  # served from stock: nothing to say
    [message] = order.messages
    assert (message.kind, message.line_no, message.key) == (
        MessageKind.WAIT_EXTENDED,
        1,
        f"O1:1:wait_extended:{NOW.isoformat()}",
    )
    rendered = MessageTemplates("Shop").render(message.kind, {"order_id": "O1", **message.context})
    assert "TABLE" in rendered.subject and "cancel the item at no cost" in rendered.body
