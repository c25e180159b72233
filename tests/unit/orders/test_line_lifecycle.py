"""The line lifecycle: allowed steps, the audit trail, the order's derived status, cancelling and delivery."""

from __future__ import annotations

import pytest
from orders_factories import RULES, day, later, place, shipment

from dropship_shared.events import BackorderCancelled
from orders.domain.lifecycle import ALLOWED, LineStatus, can_move
from orders.domain.model import OrderError, RequestedLine


def test_every_status_has_its_allowed_steps_and_closed_ones_are_final() -> None:
    assert set(ALLOWED) == set(LineStatus) | {None}
    assert ALLOWED[LineStatus.DELIVERED] == frozenset()
    # only goods the supplier shipped after all reopen a cancelled or rejected line
    for closed in (LineStatus.CANCELLED, LineStatus.REJECTED):
        assert ALLOWED[closed] == {LineStatus.SHIPPED, LineStatus.PARTIALLY_SHIPPED}
    assert not can_move(LineStatus.SHIPPED, LineStatus.CANCELLED)
    assert not can_move(LineStatus.ALLOCATED, LineStatus.CANCELLED)


def test_placing_records_the_first_transition_of_each_line() -> None:
    order = place([RequestedLine("CHAIR", 1), RequestedLine("TABLE", 1)])
    assert [(t.line_no, t.from_status, t.to_status, t.cause) for t in order.new_transitions] == [
        (1, None, LineStatus.ALLOCATED, "order_placed"),
        (2, None, LineStatus.BACKORDERED, "order_placed"),
    ]


def test_the_happy_path_is_audited_step_by_step() -> None:
    order = place([RequestedLine("TABLE", 2)])
    order.mark_on_purchase_order(1, "PO1", later(1, name="purchase_order.requested"))
    order.acknowledge(1, "PO1", "accepted", None, None, RULES, later(2, name="purchase_order.acknowledged"))
    order.record_shipment(1, shipment("S1", 1), RULES, later(3, name="shipment.updated"))
    order.record_shipment(1, shipment("S2", 1), RULES, later(4, name="shipment.updated"))
    order.confirm_delivery(1, later(6, name="delivered:carrier"))
    line = order.lines[0]
    assert [(t.from_status, t.to_status) for t in line.history] == [
        (None, LineStatus.BACKORDERED),
        (LineStatus.BACKORDERED, LineStatus.ON_PURCHASE_ORDER),
        (LineStatus.ON_PURCHASE_ORDER, LineStatus.ACKNOWLEDGED),
        (LineStatus.ACKNOWLEDGED, LineStatus.PARTIALLY_SHIPPED),
        (LineStatus.PARTIALLY_SHIPPED, LineStatus.SHIPPED),
        (LineStatus.SHIPPED, LineStatus.DELIVERED),
    ]
    assert line.history[-1].cause == "delivered:carrier"
    assert order.status == "delivered"


def test_order_status_derives_from_its_lines() -> None:
    order = place([RequestedLine("CHAIR", 1), RequestedLine("TABLE", 2)])
    assert order.status == "awaiting_supplier"
    order.record_shipment(2, shipment("S1", 1), RULES, later(1))
    assert order.status == "partially_shipped"
    order.record_shipment(2, shipment("S2", 1), RULES, later(2))
    assert order.status == "fulfilled"
    order.confirm_delivery(1, later(3))
    order.confirm_delivery(2, later(3))
    assert order.status == "delivered"


def test_supplier_backorder_then_acceptance_then_rejection_of_another_line() -> None:
    order = place([RequestedLine("TABLE", 1), RequestedLine("TABLE", 1)])
    for line_no in (1, 2):
        order.mark_on_purchase_order(line_no, "PO1", later(1))
    order.acknowledge(1, "PO1", "backordered", day(20), None, RULES, later(2))
    order.acknowledge(2, "PO1", "rejected", None, "discontinued", RULES, later(2))
    assert order.lines[0].status == LineStatus.BACKORDERED_AT_SUPPLIER
    assert (order.lines[1].status, order.lines[1].rejected_qty, order.lines[1].status_reason) == (
        LineStatus.REJECTED,
        1,
        "discontinued",
    )
    order.acknowledge(1, "PO1", "accepted", None, None, RULES, later(5))
    assert order.lines[0].status == LineStatus.ACKNOWLEDGED


def test_cancel_before_the_purchase_order_is_immediate_and_idempotent() -> None:
    order = place([RequestedLine("TABLE", 1)])
    order.events.clear()
    order.cancel_line(1, later(1))
    order.cancel_line(1, later(1))
    assert order.lines[0].status == LineStatus.CANCELLED
    assert order.events == [BackorderCancelled(backorder_line_id="O1-1", supplier_id="globex")]
    assert order.status == "cancelled"


def test_cancel_after_the_purchase_order_waits_for_the_supplier() -> None:
    order = place([RequestedLine("TABLE", 1)])
    order.mark_on_purchase_order(1, "PO1", later(1))
    order.events.clear()
    order.cancel_line(1, later(2))
    order.cancel_line(1, later(2))  # asked once
    assert order.lines[0].status == LineStatus.CANCEL_REQUESTED
    assert len(order.events) == 1
    order.resolve_cancellation(1, "cancelled", later(3))
    order.resolve_cancellation(1, "cancelled", later(3))
    assert (order.lines[0].status, order.lines[0].cancelled_qty) == (LineStatus.CANCELLED, 1)


def test_a_refused_cancellation_returns_the_line_to_where_it_was_and_the_shipment_lands() -> None:
    order = place([RequestedLine("TABLE", 1)])
    order.mark_on_purchase_order(1, "PO1", later(1))
    order.acknowledge(1, "PO1", "accepted", None, None, RULES, later(1))
    order.cancel_line(1, later(2))
    order.resolve_cancellation(1, "already_shipped", later(3))
    assert order.lines[0].status == LineStatus.ACKNOWLEDGED
    order.record_shipment(1, shipment("S1", 1), RULES, later(3))
    assert order.lines[0].status == LineStatus.SHIPPED


def test_a_shipment_during_a_cancel_request_ships_the_line() -> None:
    order = place([RequestedLine("TABLE", 1)])
    order.mark_on_purchase_order(1, "PO1", later(1))
    order.cancel_line(1, later(2))
    order.record_shipment(1, shipment("S1", 1), RULES, later(3))
    assert order.lines[0].status == LineStatus.SHIPPED
    order.resolve_cancellation(1, "already_shipped", later(4))  # too late to matter
    assert order.lines[0].status == LineStatus.SHIPPED


def test_cancelling_the_rest_of_a_partly_shipped_line_leaves_it_shipped_for_what_shipped() -> None:
    order = place([RequestedLine("TABLE", 3)])
    order.mark_on_purchase_order(1, "PO1", later(1))
    order.record_shipment(1, shipment("S1", 1), RULES, later(2))
    order.cancel_line(1, later(3))
    order.resolve_cancellation(1, "cancelled", later(4))
    line = order.lines[0]
    assert (line.status, line.shipped_qty, line.cancelled_qty, line.open_qty) == (LineStatus.SHIPPED, 1, 2, 0)


def test_cancelling_the_whole_order_skips_lines_already_served() -> None:
    order = place([RequestedLine("CHAIR", 1), RequestedLine("TABLE", 1), RequestedLine("TABLE", 1)])
    order.mark_on_purchase_order(3, "PO1", later(1))
    order.cancel(later(2))
    assert [line.status for line in order.lines] == [
        LineStatus.ALLOCATED,
        LineStatus.CANCELLED,
        LineStatus.CANCEL_REQUESTED,
    ]
    order.cancel(later(2))
    assert len([e for e in order.events if isinstance(e, BackorderCancelled)]) == 2


def test_shipped_or_stock_lines_cannot_be_cancelled_and_only_shipped_goods_are_delivered() -> None:
    order = place([RequestedLine("CHAIR", 1), RequestedLine("TABLE", 1)])
    with pytest.raises(OrderError):
        order.cancel_line(1, later(1))
    with pytest.raises(OrderError):
        order.confirm_delivery(2, later(1))
    order.record_shipment(2, shipment("S1", 1), RULES, later(1))
    with pytest.raises(OrderError):
        order.cancel_line(2, later(2))
    order.confirm_delivery(2, later(2))
    order.confirm_delivery(2, later(3))  # repeated: no second transition
    assert [t.to_status for t in order.lines[1].history].count(LineStatus.DELIVERED) == 1


def test_events_arriving_ahead_of_the_purchase_order_request_still_apply() -> None:
    order = place([RequestedLine("TABLE", 1)])
    order.record_shipment(1, shipment("S1", 1), RULES, later(1))
    order.mark_on_purchase_order(1, "PO1", later(2))  # late: changes nothing
    assert order.lines[0].status == LineStatus.SHIPPED
