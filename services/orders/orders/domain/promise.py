"""Promise dates: how the expected delivery date of a backordered line is computed and when a slip is news."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class PromiseRules:
    transit_days: int = 3  # supplier's door to the customer's
    default_batch_wait_days: int = 3  # until the aggregator says when the batch will be released
    quick_ship_days: int = 3  # the supplier ships within this many days: no delay notice (the article's rule)
    consolation_threshold_days: int = 7  # a slip beyond the first promise by more than this earns a credit
    consolation_percent: Decimal = Decimal("10")
    # An estimate moves a promise later only by more than this many days; never earlier (only firm news does).
    slip_tolerance_days: int = 1
    # Surplus shipped to the merchant's warehouse is received (becomes stock) this long after it ships.
    receiving_delay: timedelta = timedelta(days=2)


@dataclass(frozen=True)
class Promise:
    """One entry of a line's date history."""

    line_no: int
    promised_date: date
    at: datetime
    cause: str
    event_id: str | None = None


def delivery_after_release(release_at: datetime, lead_time_days: int, rules: PromiseRules) -> date:
    """The batch leaves for the supplier, the supplier needs its lead time, then transit."""
    return (release_at + timedelta(days=lead_time_days + rules.transit_days)).date()


def delivery_after_ship_date(ship_date: date, rules: PromiseRules) -> date:
    return ship_date + timedelta(days=rules.transit_days)


@dataclass(frozen=True)
class ReleaseEstimate:
    """The aggregator's latest word on a supplier's batch: when the lines waiting in it are expected to be
    released, or, while it is empty, how long a first backorder will wait from its own arrival."""

    expected_release_at: datetime
    first_line_wait: timedelta | None = None


def expected_release(placed_at: datetime, known: ReleaseEstimate | None, rules: PromiseRules) -> datetime:
    """When a backorder placed at `placed_at` should leave in its supplier's batch.

    An empty batch's wait counts from the order; a batch with lines goes out when expected (a line joining
    it goes with it); without a word from the aggregator, or with one already past, the default wait."""
    if known is not None and known.first_line_wait is not None:
        return placed_at + known.first_line_wait
    if known is not None and known.expected_release_at > placed_at:
        return known.expected_release_at
    return placed_at + timedelta(days=rules.default_batch_wait_days)


def moves_promise(current: date, new: date, firm: bool, rules: PromiseRules) -> bool:
    """Hysteresis: firm news (the batch released, the supplier's own date, a late shipment) moves a promise
    either way; an estimate moves it only later, and only by more than the tolerance, so dates do not swing."""
    if firm:
        return new != current
    return (new - current).days > rules.slip_tolerance_days


def deserves_delay_notice(new_date: date, previous: date, today: date, rules: PromiseRules) -> bool:
    """Later than promised, unless the goods leave the supplier within the quick-ship window anyway."""
    if new_date <= previous:
        return False
    ship_date = new_date - timedelta(days=rules.transit_days)
    return ship_date > today + timedelta(days=rules.quick_ship_days)


def consolation_due(new_date: date, first_promise: date, rules: PromiseRules) -> bool:
    return (new_date - first_promise).days > rules.consolation_threshold_days


def consolation_amount(units: int, unit_price: Decimal, rules: PromiseRules) -> Decimal:
    return (units * unit_price * rules.consolation_percent / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
