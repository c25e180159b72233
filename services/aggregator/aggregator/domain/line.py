"""A customer's backorder line waiting in a supplier batch."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from aggregator.domain.errors import InvalidLineError

_NO_DETAILS: Mapping[str, object] = MappingProxyType({})

# One Decimal per catalog cost, not one per line (each is 104 bytes, and a SKU's lines share its cost). Keyed by
# the text, which tells 4.25 from 4.250 where equality does not. Cleared when full: sharing resumes from there.
_COSTS: dict[str, Decimal] = {}
_COSTS_KEPT = 4096


@dataclass(frozen=True, slots=True)
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
        # Lines held in a batch carry no details (they are read from the database at release): one shared empty
        # mapping for those keeps 100k pending lines within the aggregator's memory budget.
        details = MappingProxyType(dict(self.details)) if self.details else _NO_DETAILS
        object.__setattr__(self, "details", details)
        # Many lines name the same few SKUs: one string each, not one per line.
        object.__setattr__(self, "sku", sys.intern(self.sku))
        object.__setattr__(self, "supplier_sku", sys.intern(self.supplier_sku))
        object.__setattr__(self, "unit_cost", _shared_cost(self.unit_cost))

    @property
    def value(self) -> Decimal:
        return self.quantity * self.unit_cost


def _shared_cost(cost: Decimal) -> Decimal:
    text = str(cost)
    shared = _COSTS.get(text)
    if shared is None:
        if len(_COSTS) >= _COSTS_KEPT:
            _COSTS.clear()
        shared = _COSTS[text] = cost
    return shared
