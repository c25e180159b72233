"""Builders shared by the orders unit tests: a catalog, an order and a shipment at fixed times."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from dropship_shared.events import Address
from orders.domain.model import Cause, Order, Product, RequestedLine, Shipment
from orders.domain.promise import PromiseRules

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SHIP_TO = Address(name="Ann", address_lines=["1 Main St"], city="Springfield", postal_code="62701", country="US")
RULES = PromiseRules(transit_days=3, default_batch_wait_days=2, quick_ship_days=3, consolation_threshold_days=7)


def catalog(on_hand: int = 3) -> dict[str, Product]:
    return {
        "CHAIR": Product("CHAIR", "Chair", "acme", "AC-1", Decimal("99"), Decimal("40"), on_hand, lead_time_days=5),
        "TABLE": Product("TABLE", "Table", "globex", "GX-9", Decimal("500"), Decimal("210"), 0, lead_time_days=10),
    }


def place(lines: list[RequestedLine], products: dict[str, Product] | None = None, **kwargs: object) -> Order:
    return Order.place("O1", "ann@example.com", SHIP_TO, lines, products or catalog(), NOW, RULES, **kwargs)  # type: ignore[arg-type]


def later(days: float = 0, hours: float = 0, name: str = "test") -> Cause:
    return Cause(NOW + timedelta(days=days, hours=hours), name)


def shipment(shipment_id: str, quantity: int, days: float = 1) -> Shipment:
    return Shipment(shipment_id, quantity, "UPS", f"1Z{shipment_id}", None, NOW + timedelta(days=days))


def day(days: int) -> date:
    """The calendar date `days` after NOW."""
    return (NOW + timedelta(days=days)).date()
