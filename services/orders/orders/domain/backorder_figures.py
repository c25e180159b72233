"""The backorder figures that measure inventory management: rate, open backorders by age, fill time, slips, credits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from math import ceil

from orders.domain.lifecycle import WAITING, LineStatus

AGE_BUCKETS: list[tuple[str, int | None]] = [("0-7d", 7), ("8-14d", 14), ("15-30d", 30), ("over_30d", None)]


@dataclass(frozen=True)
class LineFacts:
    """What the figures need to know about one order line."""

    group: str  # the SKU or the supplier
    placed_at: datetime
    quantity: int
    backordered_qty: int
    status: LineStatus
    fully_shipped_at: datetime | None  # when its last backordered unit shipped
    first_promise: date | None
    latest_promise: date | None  # the latest date it was ever promised (the history is kept, never rewritten)
    credit: Decimal | None = None  # the consolation credit issued for it, if any


@dataclass
class BackorderFigures:
    group: str
    ordered_units: int = 0
    backordered_units: int = 0
    backordered_lines: int = 0
    open_backorders: int = 0
    open_units: int = 0
    open_by_age: dict[str, int] = field(default_factory=lambda: {name: 0 for name, _ in AGE_BUCKETS})
    fill_hours: list[float] = field(default_factory=list)
    slipped_promises: int = 0
    slip_days: list[int] = field(default_factory=list)  # of each slipped line: latest promise - first promise
    credits_issued: int = 0
    credits_amount: Decimal = Decimal(0)
    cancelled_while_waiting: int = 0

    @property
    def backorder_rate(self) -> float:
        return self.backordered_units / self.ordered_units if self.ordered_units else 0.0

    def fill_time_percentile(self, percent: int) -> float | None:
        """Nearest-rank percentile of the fill times in hours."""
        return percentile(self.fill_hours, percent)

    def slip_days_percentile(self, percent: int) -> float | None:
        """Nearest-rank percentile of the days slipped, over the lines that slipped."""
        return percentile([float(days) for days in self.slip_days], percent)


def percentile(values: list[float], percent: int) -> float | None:
    """Nearest-rank percentile; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(ceil(percent / 100 * len(ordered)) - 1, 0)]


def age_bucket(age_days: int) -> str:
    for name, limit in AGE_BUCKETS:
        if limit is None or age_days <= limit:
            return name
    return AGE_BUCKETS[-1][0]


def backorder_figures(lines: list[LineFacts], now: datetime) -> list[BackorderFigures]:
    groups: dict[str, BackorderFigures] = {}
    for line in lines:
        figures = groups.setdefault(line.group, BackorderFigures(line.group))
        figures.ordered_units += line.quantity
        if not line.backordered_qty:
            continue
        figures.backordered_units += line.backordered_qty
        figures.backordered_lines += 1
        if line.status in WAITING:
            figures.open_backorders += 1
            figures.open_units += line.backordered_qty
            figures.open_by_age[age_bucket((now - line.placed_at).days)] += 1
        if line.fully_shipped_at is not None:
            figures.fill_hours.append((line.fully_shipped_at - line.placed_at).total_seconds() / 3600)
        if line.first_promise and line.latest_promise and line.latest_promise > line.first_promise:
            # A slip counts even when the line later ships early: the customer was told a later date.
            figures.slipped_promises += 1
            figures.slip_days.append((line.latest_promise - line.first_promise).days)
        if line.credit is not None:
            figures.credits_issued += 1
            figures.credits_amount += line.credit
        if line.status == LineStatus.CANCELLED:
            figures.cancelled_while_waiting += 1
    return sorted(groups.values(), key=lambda figures: (-figures.backordered_units, figures.group))
