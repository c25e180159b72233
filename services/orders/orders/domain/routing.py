"""Routing a backordered line among a product's offers: the earliest delivery for its cost, or the cheapest in time.

Pure rules: no I/O, O(offers) per line. The expected delivery of an offer takes where its supplier's batch stands
now: a line that completes a batch (meets its minimums) leaves at once (or at the supplier's next cut-off), days
before one that joins an empty batch and waits for the minimum or the deadline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from orders.domain.promise import PromiseRules, ReleaseEstimate, delivery_after_release, expected_release

RoutingMode = Literal["earliest_within_tolerance", "cheapest_within_promise"]
ROUTING_MODES: tuple[RoutingMode, ...] = ("earliest_within_tolerance", "cheapest_within_promise")

RoutingReason = Literal["earliest_within_tolerance", "cheapest_within_promise", "earliest_none_within_promise"]
# Why an offer was not chosen (or "chosen").
Outcome = Literal[
    "chosen",
    "inactive",
    "already_tried",
    "over_tolerance",
    "later",
    "premium_over_delay_cost",
    "beyond_promise",
    "dearer",
    "lost_tie",
]


class RoutingError(ValueError):
    """An offer or a routing policy that cannot be used."""


@dataclass(frozen=True)
class Offer:
    """One supplier's offer for a product: its SKU there, cost, lead time and the merchant's preference.

    `small_order_fee` is what the supplier charges for a PO below its minimums (None: it ships nothing below)."""

    supplier_id: str
    supplier_sku: str
    unit_cost: Decimal
    lead_time_days: int
    priority: int = 0  # lower is preferred
    active: bool = True
    small_order_fee: Decimal | None = None

    def __post_init__(self) -> None:
        if not self.supplier_id or not self.supplier_sku:
            raise RoutingError("an offer needs a supplier and the supplier's SKU")
        if not self.unit_cost.is_finite() or self.unit_cost < 0:
            raise RoutingError("unit_cost must be a non-negative amount")
        if self.lead_time_days < 0:
            raise RoutingError("lead_time_days must not be negative")
        if self.small_order_fee is not None and (not self.small_order_fee.is_finite() or self.small_order_fee < 0):
            raise RoutingError("small_order_fee must be a non-negative amount")

    def line_cost(self, quantity: int) -> Decimal:
        return quantity * self.unit_cost


@dataclass(frozen=True)
class BatchOutlook:
    """Where a supplier's batch stands now, as orders learns it from the aggregator.

    `expected_release_at` is the release expected for a line joining the batch now (the aggregator's estimate),
    `first_line_wait` how long a first line waits while the batch is empty (as in `ReleaseEstimate`).
    Minimums of None are not set; a batch with no minimum at all is complete with any line.
    `complete_release_at` is when a batch complete now would go (the supplier's next cut-off); None: at once."""

    supplier_id: str
    pending_units: int = 0
    pending_value: Decimal = Decimal(0)
    min_units: int | None = None
    min_value: Decimal | None = None
    expected_release_at: datetime | None = None
    first_line_wait: timedelta | None = None
    complete_release_at: datetime | None = None
    # False when orders has not heard the batch's standing (an aggregator older than these figures): then no
    # line is taken to complete it, and the estimate alone counts.
    standing_known: bool = True

    def completed_by(self, quantity: int, unit_cost: Decimal) -> bool:
        """Whether the batch meets its minimums once a line of `quantity` units at `unit_cost` joins it."""
        if not self.standing_known:
            return False
        units_ok = self.min_units is None or self.pending_units + quantity >= self.min_units
        value_ok = self.min_value is None or self.pending_value + quantity * unit_cost >= self.min_value
        return units_ok and value_ok


def expected_release_with(
    outlook: BatchOutlook | None, quantity: int, unit_cost: Decimal, placed_at: datetime, rules: PromiseRules
) -> datetime:
    """When a line of `quantity` units placed at `placed_at` should leave in the supplier's batch.

    A line that completes the batch leaves at once (at the next cut-off if the supplier has one), never later
    than the batch's own estimate; otherwise the aggregator's estimate as for any promise, or the default wait
    without a word from the aggregator."""
    known = (
        None
        if outlook is None or (outlook.expected_release_at is None and outlook.first_line_wait is None)
        else ReleaseEstimate(outlook.expected_release_at or placed_at, outlook.first_line_wait)
    )
    waiting = expected_release(placed_at, known, rules)
    if outlook is not None and outlook.completed_by(quantity, unit_cost):
        complete = max(placed_at, outlook.complete_release_at or placed_at)
        return min(waiting, complete)
    return waiting


@dataclass(frozen=True)
class RoutingPolicy:
    """The merchant's routing setting.

    'earliest_within_tolerance': among offers costing at most `tolerance_percent` over the cheapest, the one
    delivering first. With `delay_cost_per_line_day` (what the merchant reckons a line costs per day it waits,
    the figure the fee rule uses), an earlier offer must also be worth its premium: among the offers within the
    tolerance, the lowest line cost + delay cost x days from the order to the delivery (the tolerance caps what
    speed may cost, the delay cost says what a day is worth). 'cheapest_within_promise': the cheapest offer
    delivering within `promise_days` of the order; the earliest if none does."""

    mode: RoutingMode = "earliest_within_tolerance"
    tolerance_percent: Decimal = Decimal(10)
    promise_days: int = 14
    delay_cost_per_line_day: Decimal | None = None

    def __post_init__(self) -> None:
        if self.mode not in ROUTING_MODES:
            raise RoutingError(f"mode must be one of {', '.join(ROUTING_MODES)}")
        if not self.tolerance_percent.is_finite() or self.tolerance_percent < 0:
            raise RoutingError("tolerance_percent must be a non-negative number")
        if self.promise_days < 0:
            raise RoutingError("promise_days must not be negative")
        delay = self.delay_cost_per_line_day
        if delay is not None and (not delay.is_finite() or delay < 0):
            raise RoutingError("delay_cost_per_line_day must be a non-negative amount")


@dataclass(frozen=True)
class Alternative:
    """An offer as routing saw it: its expected release and delivery, the line's cost there, and the outcome.

    Inactive and already tried offers are listed too, without dates (they were not weighed)."""

    offer: Offer
    line_cost: Decimal
    expected_release_at: datetime | None
    expected_delivery: date | None
    completes_batch: bool
    outcome: Outcome
    cost_with_delay: Decimal | None = None  # line cost + the policy's delay cost for the days to delivery

    def as_record(self) -> dict[str, object]:
        return {
            "supplier_id": self.offer.supplier_id,
            "supplier_sku": self.offer.supplier_sku,
            "unit_cost": str(self.offer.unit_cost),
            "lead_time_days": self.offer.lead_time_days,
            "priority": self.offer.priority,
            "line_cost": str(self.line_cost),
            "expected_release_at": None if self.expected_release_at is None else self.expected_release_at.isoformat(),
            "expected_delivery": None if self.expected_delivery is None else self.expected_delivery.isoformat(),
            "completes_batch": self.completes_batch,
            "cost_with_delay": None if self.cost_with_delay is None else str(self.cost_with_delay),
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class RoutingDecision:
    """The offer chosen for a line, why, and every offer considered with the numbers behind the choice."""

    offer: Offer
    expected_release_at: datetime
    expected_delivery: date
    line_cost: Decimal
    reason: RoutingReason
    cheapest_cost: Decimal
    policy: RoutingPolicy
    alternatives: tuple[Alternative, ...]

    def as_record(self) -> dict[str, object]:
        """JSON-able: decimals and dates as text, for storage with the line and the API."""
        return {
            "supplier_id": self.offer.supplier_id,
            "supplier_sku": self.offer.supplier_sku,
            "expected_release_at": self.expected_release_at.isoformat(),
            "expected_delivery": self.expected_delivery.isoformat(),
            "line_cost": str(self.line_cost),
            "reason": self.reason,
            "cheapest_cost": str(self.cheapest_cost),
            "mode": self.policy.mode,
            "tolerance_percent": str(self.policy.tolerance_percent),
            "promise_days": self.policy.promise_days,
            "delay_cost_per_line_day": None
            if self.policy.delay_cost_per_line_day is None
            else str(self.policy.delay_cost_per_line_day),
            "alternatives": [alternative.as_record() for alternative in self.alternatives],
        }


@dataclass(frozen=True)
class _Weighed:
    offer: Offer
    line_cost: Decimal
    release_at: datetime
    delivery: date
    completes: bool
    cost_with_delay: Decimal | None

    @property
    def earliest_key(self) -> tuple[date, Decimal, int, str, str]:
        """Earliest first; on the same day the cheaper, then the merchant's priority, then the supplier id."""
        return (self.delivery, self.line_cost, self.offer.priority, self.offer.supplier_id, self.offer.supplier_sku)

    @property
    def cheapest_key(self) -> tuple[Decimal, date, int, str, str]:
        return (self.line_cost, self.delivery, self.offer.priority, self.offer.supplier_id, self.offer.supplier_sku)

    @property
    def worth_key(self) -> tuple[Decimal, date, Decimal, int, str, str]:
        """Lowest cost with the delay first; then as `earliest_key`."""
        return (self.cost_with_delay or self.line_cost, *self.earliest_key)


def route(
    quantity: int,
    offers: Iterable[Offer],
    outlooks: Mapping[str, BatchOutlook],
    placed_at: datetime,
    policy: RoutingPolicy,
    promise_rules: PromiseRules,
    tried: frozenset[str] = frozenset(),
) -> RoutingDecision | None:
    """Choose the offer for a backordered line of `quantity` units placed at `placed_at`.

    `tried` holds the supplier ids this line has already been sent to (each offer is tried at most once);
    None when no active offer is left untried. Deterministic: equal candidates are ordered by cost, the
    merchant's priority, then supplier id."""
    if quantity < 1:
        raise RoutingError("quantity must be at least 1")
    offers = tuple(offers)
    delay = policy.delay_cost_per_line_day
    weighed: list[_Weighed] = []
    skipped: list[Alternative] = []
    for offer in offers:
        if not offer.active or offer.supplier_id in tried:
            outcome: Outcome = "inactive" if not offer.active else "already_tried"
            skipped.append(Alternative(offer, offer.line_cost(quantity), None, None, False, outcome))
            continue
        outlook = outlooks.get(offer.supplier_id)
        release_at = expected_release_with(outlook, quantity, offer.unit_cost, placed_at, promise_rules)
        completes = outlook is not None and outlook.completed_by(quantity, offer.unit_cost)
        delivery = delivery_after_release(release_at, offer.lead_time_days, promise_rules)
        line_cost = offer.line_cost(quantity)
        with_delay = None if delay is None else line_cost + delay * (delivery - placed_at.date()).days
        weighed.append(_Weighed(offer, line_cost, release_at, delivery, completes, with_delay))
    if not weighed:
        return None
    cheapest = min(candidate.line_cost for candidate in weighed)
    limit = cheapest * (100 + policy.tolerance_percent) / 100
    by_date = placed_at.date() + timedelta(days=policy.promise_days)
    reason: RoutingReason
    if policy.mode == "earliest_within_tolerance":
        within = (c for c in weighed if c.line_cost <= limit)
        chosen = min(within, key=lambda c: c.earliest_key if delay is None else c.worth_key)
        reason = "earliest_within_tolerance"
    else:
        in_time = [c for c in weighed if c.delivery <= by_date]
        if in_time:
            chosen, reason = min(in_time, key=lambda c: c.cheapest_key), "cheapest_within_promise"
        else:
            chosen, reason = min(weighed, key=lambda c: c.earliest_key), "earliest_none_within_promise"
    alternatives = [
        Alternative(
            c.offer,
            c.line_cost,
            c.release_at,
            c.delivery,
            c.completes,
            _outcome(c, chosen, reason, limit, by_date),
            c.cost_with_delay,
        )
        for c in weighed
    ]
    return RoutingDecision(
        offer=chosen.offer,
        expected_release_at=chosen.release_at,
        expected_delivery=chosen.delivery,
        line_cost=chosen.line_cost,
        reason=reason,
        cheapest_cost=cheapest,
        policy=policy,
        alternatives=(*alternatives, *skipped),
    )


def _outcome(
    candidate: _Weighed,
    chosen: _Weighed,
    reason: RoutingReason,
    limit: Decimal,
    by_date: date,
) -> Outcome:
    """Why `candidate` was not chosen: `limit` is the tolerance's cost ceiling, `by_date` the promised date."""
    if candidate is chosen:
        return "chosen"
    if reason == "earliest_within_tolerance":
        if candidate.line_cost > limit:
            return "over_tolerance"
        if candidate.delivery < chosen.delivery:
            return "premium_over_delay_cost"
        return "later" if candidate.delivery > chosen.delivery else "lost_tie"
    if reason == "cheapest_within_promise":
        if candidate.delivery > by_date:
            return "beyond_promise"
        return "dearer" if candidate.line_cost > chosen.line_cost else "lost_tie"
    return "later" if candidate.delivery > chosen.delivery else "lost_tie"
