"""The order's rules: allocation without overselling, backorders for shortfalls, cancellation, shipments."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dropship_shared.events import Address, BackorderCancelled, BackorderCreated
from orders.domain.model import Cause, LineStatus, Order, OrderError, Product, RequestedLine, Shipment, UnknownSku
from orders.domain.promise import PromiseRules

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CAUSE = Cause(NOW, "test")
SHIP_TO = Address(name="Ann", address_lines=["1 Main St"], city="Springfield", postal_code="62701", country="US")


def catalog(on_hand: int = 3) -> dict[str, Product]:
    return {
        "CHAIR": Product("CHAIR", "Chair", "acme", "AC-1", Decimal("99"), Decimal("40"), on_hand),
        "TABLE": Product("TABLE", "Table", "globex", "GX-9", Decimal("500"), Decimal("210"), 0),
    }


def place(lines: list[RequestedLine], products: dict[str, Product] | None = None) -> Order:
    return Order.place("O1", "ann@example.com", SHIP_TO, lines, products or catalog(), NOW)


def test_line_in_stock_is_allocated_and_emits_nothing() -> None:
    products = catalog()
    order = place([RequestedLine("CHAIR", 2)], products)
    assert order.lines[0].status == LineStatus.ALLOCATED
    assert (order.lines[0].allocated_qty, order.lines[0].backordered_qty) == (2, 0)
    assert products["CHAIR"].on_hand == 1
    assert order.events == []
    assert order.status == "fulfilled"


def test_shortfall_becomes_one_backorder_event_per_line_with_supplier_and_cost() -> None:
    products = catalog(on_hand=1)
    order = place([RequestedLine("CHAIR", 4), RequestedLine("TABLE", 1)], products)
    chair, table = order.lines
    assert (chair.allocated_qty, chair.backordered_qty, chair.status) == (1, 3, LineStatus.BACKORDERED)
    assert (table.allocated_qty, table.backordered_qty) == (0, 1)
    assert products["CHAIR"].on_hand == 0
    events = [event for event in order.events if isinstance(event, BackorderCreated)]
    assert [(e.backorder_line_id, e.supplier_id, e.supplier_sku, e.quantity, e.unit_cost) for e in events] == [
        ("O1-1", "acme", "AC-1", 3, Decimal("40")),
        ("O1-2", "globex", "GX-9", 1, Decimal("210")),
    ]
    assert events[0].ship_to == SHIP_TO
    assert order.status == "awaiting_supplier"


def test_stock_is_shared_between_lines_of_one_order_never_below_zero() -> None:
    products = catalog(on_hand=3)
    order = place([RequestedLine("CHAIR", 2), RequestedLine("CHAIR", 2)], products)
    assert [line.allocated_qty for line in order.lines] == [2, 1]
    assert [line.backordered_qty for line in order.lines] == [0, 1]
    assert products["CHAIR"].on_hand == 0


def test_unknown_sku_is_refused_naming_it() -> None:
    with pytest.raises(UnknownSku) as raised:
        place([RequestedLine("CHAIR", 1), RequestedLine("SOFA", 1)])
    assert raised.value.skus == ["SOFA"]


def test_cancel_backordered_line_emits_cancellation_once() -> None:
    order = place([RequestedLine("TABLE", 1)])
    order.events.clear()
    order.cancel_line(1, CAUSE)
    order.cancel_line(1, CAUSE)
    assert order.lines[0].status == LineStatus.CANCELLED
    assert order.events == [BackorderCancelled(backorder_line_id="O1-1", supplier_id="globex")]
    assert order.status == "cancelled"


def test_a_line_on_a_purchase_order_is_only_asked_to_cancel_and_stock_lines_cannot_be() -> None:
    order = place([RequestedLine("TABLE", 1), RequestedLine("CHAIR", 1)])
    order.mark_on_purchase_order(1, "PO1", CAUSE)
    order.cancel_line(1, CAUSE)
    assert order.lines[0].status == LineStatus.CANCEL_REQUESTED
    with pytest.raises(OrderError):
        order.cancel_line(2, CAUSE)
    with pytest.raises(OrderError):
        order.cancel_line(9, CAUSE)


def shipment(shipment_id: str, quantity: int) -> Shipment:
    return Shipment(shipment_id, quantity, "UPS", f"1Z{shipment_id}", None, NOW)


def test_shipments_apply_once_and_partial_then_complete() -> None:
    order = place([RequestedLine("TABLE", 3)])
    order.mark_on_purchase_order(1, "PO1", CAUSE)
    assert order.record_shipment(1, shipment("S1", 1), PromiseRules(), CAUSE)
    assert not order.record_shipment(1, shipment("S1", 1), PromiseRules(), CAUSE)
    assert order.lines[0].status == LineStatus.PARTIALLY_SHIPPED
    assert order.status == "partially_shipped"
    assert order.record_shipment(1, shipment("S2", 2), PromiseRules(), CAUSE)
    assert order.lines[0].status == LineStatus.SHIPPED
    assert order.lines[0].shipped_qty == 3
    assert order.status == "fulfilled"
