"""The supplier batching policy: minimums, per-SKU rules, price breaks, deadline, cut-off, small-order fee."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aggregator.domain.errors import PolicyError

DeadlineAction = Literal["release", "escalate"]
Remainder = Literal["wait", "round_up"]

_HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _check_money(value: Decimal, field_name: str) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise PolicyError(field_name, "must be a finite decimal amount")
    if value < 0:
        raise PolicyError(field_name, "must not be negative")


@dataclass(frozen=True)
class PriceBreak:
    """From `min_qty` units of a SKU in one release, the supplier charges `unit_cost`."""

    min_qty: int
    unit_cost: Decimal


@dataclass(frozen=True)
class SkuRule:
    """What the supplier demands for one of its SKUs.

    `min_qty` (0 = none) is checked against the customers' units of the SKU in a
    release; `case_pack` is the multiple the supplier sells in; `remainder` says what
    to do with a need that is not a multiple: wait for more demand, or round up and
    ship the surplus to the merchant's own warehouse. `price_breaks` are quantity
    tiers, strictly increasing in quantity and never increasing in cost.
    """

    min_qty: int = 0
    case_pack: int = 1
    remainder: Remainder = "wait"
    price_breaks: tuple[PriceBreak, ...] = ()

    def __post_init__(self) -> None:
        if self.min_qty < 0:
            raise PolicyError("min_qty", "must not be negative")
        if self.case_pack < 1:
            raise PolicyError("case_pack", "must be at least 1")
        if self.remainder not in ("wait", "round_up"):
            raise PolicyError("remainder", "must be 'wait' or 'round_up'")
        object.__setattr__(self, "price_breaks", tuple(self.price_breaks))
        previous: PriceBreak | None = None
        for tier in self.price_breaks:
            if tier.min_qty < 1:
                raise PolicyError("price_breaks", "a tier starts at 1 unit or more")
            _check_money(tier.unit_cost, "price_breaks")
            if previous is not None:
                if tier.min_qty <= previous.min_qty:
                    raise PolicyError("price_breaks", "tiers must be sorted by strictly increasing quantity")
                if tier.unit_cost > previous.unit_cost:
                    raise PolicyError("price_breaks", "a larger tier must not cost more per unit")
            previous = tier

    def tier_cost(self, quantity: int) -> Decimal | None:
        """The unit cost of the largest tier `quantity` reaches, or None below every tier."""
        cost: Decimal | None = None
        for tier in self.price_breaks:
            if quantity < tier.min_qty:
                break
            cost = tier.unit_cost
        return cost


@dataclass(frozen=True)
class Cutoff:
    """The supplier's daily order cut-off: `local_time` ("HH:MM") in IANA `time_zone`."""

    local_time: str
    time_zone: str

    def __post_init__(self) -> None:
        if not isinstance(self.local_time, str) or not _HH_MM.match(self.local_time):
            raise PolicyError("cutoff.local_time", "must be HH:MM (24-hour clock)")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
            raise PolicyError("cutoff.time_zone", f"unknown IANA time zone {self.time_zone!r}") from error

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def time_of_day(self) -> time:
        hours, minutes = self.local_time.split(":")
        return time(int(hours), int(minutes))


@dataclass(frozen=True)
class SupplierPolicy:
    """How one supplier's backorders are batched into purchase orders (one version of it).

    Minimums (`min_units`, `min_value`; 0 = none) apply to the total of one release,
    never per line. `max_wait` bounds how long any backorder waits; at the deadline
    `on_deadline` says release anyway or escalate. `sku_rules` is keyed by the
    supplier's SKU. With a `cutoff`, releases by minimum happen at most once per
    local day, at the cut-off; `max_lines_per_po` splits a release into several POs.
    `small_order_fee` (None = the supplier ships nothing below its minimum) is what the
    supplier charges to ship a PO below its minimums; `delay_cost_per_line_day` is what
    the merchant reckons a backorder line costs per day it waits. With both, a batch
    below its minimum is released when paying the fee is cheaper than waiting.
    """

    supplier_id: str
    max_wait: timedelta
    min_units: int = 0
    min_value: Decimal = Decimal(0)
    on_deadline: DeadlineAction = "release"
    sku_rules: Mapping[str, SkuRule] = field(default_factory=dict)
    cutoff: Cutoff | None = None
    max_lines_per_po: int | None = None
    small_order_fee: Decimal | None = None
    delay_cost_per_line_day: Decimal = Decimal(0)
    version: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.supplier_id, str) or not self.supplier_id.strip():
            raise PolicyError("supplier_id", "must not be empty")
        if self.min_units < 0:
            raise PolicyError("min_units", "must not be negative")
        _check_money(self.min_value, "min_value")
        if not isinstance(self.max_wait, timedelta) or self.max_wait <= timedelta(0):
            raise PolicyError("max_wait", "must be a positive duration")
        if self.on_deadline not in ("release", "escalate"):
            raise PolicyError("on_deadline", "must be 'release' or 'escalate'")
        for supplier_sku, rule in self.sku_rules.items():
            if not isinstance(supplier_sku, str) or not supplier_sku.strip():
                raise PolicyError("sku_rules", "a rule needs a non-empty supplier SKU")
            if not isinstance(rule, SkuRule):
                raise PolicyError(f"sku_rules[{supplier_sku}]", "must be a SkuRule")
        object.__setattr__(self, "sku_rules", MappingProxyType(dict(self.sku_rules)))
        if self.max_lines_per_po is not None:
            # A case-packed SKU split over several POs needs room for its surplus line.
            needed = 2 if any(rule.case_pack > 1 for rule in self.sku_rules.values()) else 1
            if self.max_lines_per_po < needed:
                raise PolicyError("max_lines_per_po", f"must be at least {needed}")
        if self.small_order_fee is not None:
            _check_money(self.small_order_fee, "small_order_fee")
        _check_money(self.delay_cost_per_line_day, "delay_cost_per_line_day")
        if self.version < 1:
            raise PolicyError("version", "must be at least 1")

    def meets_minimums(self, units: int, value: Decimal) -> bool:
        return units >= self.min_units and value >= self.min_value
