"""A customer's backorder line waiting in a supplier batch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from aggregator.domain.errors import InvalidLineError


@dataclass(frozen=True)
class PendingLine:
    """One backorder line; `unit_cost` is the catalog cost, `details` is carried, never read."""

    backorder_line_id: str
    supplier_sku: str
    sku: str
    quantity: int
    unit_cost: Decimal
    received_at: datetime
    details: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.backorder_line_id:
            raise InvalidLineError("backorder_line_id", "must not be empty")
        if not self.supplier_sku:
            raise InvalidLineError("supplier_sku", "must not be empty")
        if self.quantity < 1:
            raise InvalidLineError("quantity", "must be at least 1")
        if not isinstance(self.unit_cost, Decimal) or not self.unit_cost.is_finite() or self.unit_cost < 0:
            raise InvalidLineError("unit_cost", "must be a non-negative decimal amount")
        if self.received_at.tzinfo is None or self.received_at.utcoffset() is None:
            raise InvalidLineError("received_at", "must be timezone-aware")
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

    @property
    def value(self) -> Decimal:
        return self.quantity * self.unit_cost
