"""Waiting for a batch's minimum versus paying the supplier's small-order fee to release it now."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

_CENT = Decimal("0.01")
_SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class ConsolationTerms:
    """The merchant's consolation rule, as orders applies it: a slip of more than `threshold_days` earns a
    one-time credit of `percent` of the line's value."""

    threshold_days: int = 7
    percent: Decimal = Decimal(10)


@dataclass(frozen=True)
class WaitingOutlook:
    """What a decision point knows beyond the batch: the demand observed and the consolation rule.

    `arrival_rate_units_per_hour` estimates when the minimum is met; `cancellation_share` (0..1) is the
    share of arriving units that left their batch before release (cancelled or withdrawn), observed with
    the same decay as the arrival rate."""

    arrival_rate_units_per_hour: float = 0.0
    cancellation_share: float = 0.0
    consolation: ConsolationTerms = field(default_factory=ConsolationTerms)


@dataclass(frozen=True)
class WaitingCost:
    """The comparison behind a release for the fee, kept with the release so anyone can check it.

    expected cost of waiting = (1 - cancellation_share) x (lines x extra_days x delay_cost_per_line_day
    + credits), where credits are the consolation credits of the waiting lines when the extra wait exceeds
    the consolation threshold; the batch is released for the fee when the fee is strictly cheaper."""

    lines: int
    extra_days: float
    delay_cost_per_line_day: Decimal
    delay_cost: Decimal
    credits: Decimal
    cancellation_share: float
    waiting_cost: Decimal
    small_order_fee: Decimal

    @property
    def fee_cheaper(self) -> bool:
        return self.small_order_fee < self.waiting_cost

    def as_record(self) -> dict[str, str]:
        """The figures as text, for the PO record and the event (exact decimals, no float drift in JSON)."""
        return {
            "lines": str(self.lines),
            "extra_days": f"{self.extra_days:.4f}",
            "delay_cost_per_line_day": str(self.delay_cost_per_line_day),
            "delay_cost": _cents(self.delay_cost),
            "credits": _cents(self.credits),
            "cancellation_share": f"{self.cancellation_share:.4f}",
            "waiting_cost": _cents(self.waiting_cost),
            "small_order_fee": str(self.small_order_fee),
        }


def waiting_cost(
    *,
    lines: int,
    value: Decimal,
    extra_seconds: float,
    small_order_fee: Decimal,
    delay_cost_per_line_day: Decimal,
    outlook: WaitingOutlook,
) -> WaitingCost:
    """The expected cost of waiting `extra_seconds` more for the release, from a batch's running totals (O(1)).

    The aggregator cannot see the promises orders gave (its tables are its own), so a waiting line is taken
    to have been promised what a release now would give it: the extra wait is the slip, and a slip beyond
    the consolation threshold earns each line its credit. Orders computes the credit on the retail price;
    the aggregator knows only the catalog cost (`value`), so the credit is read on cost (a lower bound).
    """
    extra_days = max(0.0, extra_seconds) / _SECONDS_PER_DAY
    share = min(1.0, max(0.0, outlook.cancellation_share))
    # Compared unrounded: a zero fee must win against any positive cost, however small.
    delay = lines * Decimal(repr(extra_days)) * delay_cost_per_line_day
    credits = Decimal(0)
    if lines and extra_days > outlook.consolation.threshold_days:
        credits = value * outlook.consolation.percent / 100
    staying = Decimal(repr(1.0 - share))
    cost = (delay + credits) * staying
    return WaitingCost(
        lines=lines,
        extra_days=extra_days,
        delay_cost_per_line_day=delay_cost_per_line_day,
        delay_cost=delay,
        credits=credits,
        cancellation_share=share,
        waiting_cost=cost,
        small_order_fee=small_order_fee,
    )


def _cents(amount: Decimal) -> str:
    return str(amount.quantize(_CENT, rounding=ROUND_HALF_UP))
