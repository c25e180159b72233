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


def expected_release(placed_at: datetime, known_release: datetime | None, rules: PromiseRules) -> datetime:
    """The aggregator's latest estimate for the supplier when it lies ahead, else the default wait."""
    if known_release is not None and known_release > placed_at:
        return known_release
    return placed_at + timedelta(days=rules.default_batch_wait_days)


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
