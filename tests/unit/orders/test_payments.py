"""Money: captured only for what ships (per line, per shipment), released for what never will; it reconciles."""

from __future__ import annotations

from decimal import Decimal

from orders_factories import RULES, later, place, shipment

from orders.domain.effects import MoneyMovement, MovementKind
from orders.domain.model import Order, RequestedLine
from orders.service_layer.ports import PaymentTotals


def moved(order: Order, kind: MovementKind) -> Decimal:
    return sum((m.amount for m in order.movements if m.kind == kind), Decimal(0))


def test_stock_is_captured_at_once_backorders_are_not() -> None:
    order = place([RequestedLine("CHAIR", 5)])  # 3 in stock at 99, 2 backordered
    assert order.total == Decimal("495")
    assert order.movements == [MoneyMovement(MovementKind.CAPTURE, "O1", 1, Decimal("297"), "O1-1-stock")]


def test_each_shipment_captures_its_units_once() -> None:
    order = place([RequestedLine("TABLE", 3)])
    order.record_shipment(1, shipment("S1", 1), RULES, later(1))
    order.record_shipment(1, shipment("S1", 1), RULES, later(1))  # redelivered
    order.record_shipment(1, shipment("S2", 2), RULES, later(2))
    assert [(m.amount, m.reference) for m in order.movements] == [
        (Decimal("500"), "O1-1-S1"),
        (Decimal("1000"), "O1-1-S2"),
    ]


def test_cancelled_and_rejected_units_release_their_authorization() -> None:
    order = place([RequestedLine("TABLE", 2), RequestedLine("TABLE", 1), RequestedLine("CHAIR", 1)])
    order.cancel_line(1, later(1))
    order.acknowledge(2, "PO1", "rejected", None, "discontinued", RULES, later(2))
    assert moved(order, MovementKind.RELEASE) == Decimal("1500")
    assert moved(order, MovementKind.CAPTURE) == Decimal("99")
    totals = PaymentTotals("USD", order.total, moved(order, MovementKind.CAPTURE), moved(order, MovementKind.RELEASE))
    assert totals.reconciled and totals.outstanding == 0


def test_partly_shipped_then_cancelled_line_reconciles() -> None:
    order = place([RequestedLine("TABLE", 3)])
    order.mark_on_purchase_order(1, "PO1", later(1))
    order.record_shipment(1, shipment("S1", 1), RULES, later(2))
    order.cancel_line(1, later(3))
    totals = PaymentTotals("USD", order.total, moved(order, MovementKind.CAPTURE), moved(order, MovementKind.RELEASE))
    assert (totals.captured, totals.released, totals.outstanding) == (Decimal("500"), Decimal(0), Decimal("1000"))
    order.resolve_cancellation(1, "cancelled", later(4))
    totals = PaymentTotals("USD", order.total, moved(order, MovementKind.CAPTURE), moved(order, MovementKind.RELEASE))
    assert (totals.captured, totals.released) == (Decimal("500"), Decimal("1000"))
    assert totals.reconciled
