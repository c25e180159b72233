"""Stock received into the warehouse: lines promised from it first, then the oldest batch lines, whole lines."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from orders_factories import NOW, RULES, catalog, day, later, place

from orders.domain.effects import MessageKind, MovementKind
from orders.domain.lifecycle import LineStatus
from orders.domain.model import RequestedLine
from orders.domain.receiving import WaitingLine, plan_receipt


def waiting(order_id: str, quantity: int, hours: int, incoming: bool = False) -> WaitingLine:
    return WaitingLine(order_id, 1, quantity, NOW + timedelta(hours=hours), incoming)


def test_lines_promised_the_incoming_units_come_first_then_the_oldest_batch_lines_whole() -> None:
    lines = [waiting("B", 2, 0), waiting("A", 3, 5, incoming=True), waiting("C", 4, 1), waiting("D", 1, 2)]
    plan = plan_receipt(6, lines)
    assert [line.order_id for line in plan.serve] == ["A"]
    assert [line.order_id for line in plan.withdraw] == ["B", "D"]  # C (4) does not fit the 1 left after B
    assert plan.left == 0
    assert plan_receipt(0, lines).left == 0 and plan_receipt(0, lines).serve == ()


def test_an_order_is_promised_from_incoming_units_only_when_they_cover_the_line() -> None:
    products = catalog(on_hand=0)
    products["TABLE"].incoming_free, products["TABLE"].incoming_expected_at = 3, NOW + timedelta(days=4)
    order = place([RequestedLine("TABLE", 2), RequestedLine("TABLE", 2)], products=products)
    served, supplied = order.lines
    assert (served.awaits_incoming, served.promised_date) == (True, day(4 + 3))
    assert not supplied.awaits_incoming  # only 1 incoming unit left: from the supplier's batch
    assert [event.backorder_line_id for event in order.events] == ["O1-2"]  # type: ignore[attr-defined]


def test_a_line_served_from_received_stock_is_paid_and_told_its_earlier_date() -> None:
    order = place([RequestedLine("TABLE", 2)])  # promised day 15
    order.messages.clear()
    assert order.serve_from_stock(1, RULES, later(1))
    line = order.lines[0]
    assert (line.status, line.allocated_qty, line.open_qty, line.promised_date) == (
        LineStatus.ALLOCATED,
        2,
        0,
        day(1 + 3),
    )
    assert [(m.kind, m.context["quantity"]) for m in order.messages] == [(MessageKind.DATE_IMPROVED, 2)]
    assert [(m.kind, m.amount) for m in order.movements if m.kind == MovementKind.CAPTURE] == [
        (MovementKind.CAPTURE, Decimal(1000))
    ]
    assert not order.serve_from_stock(1, RULES, later(2))  # once
