"""The recent arrival rate of a supplier's backorders (when a minimum is met) and the share of them that leave."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from aggregator.domain.schedule import require_aware

_HOUR = timedelta(hours=1)


@dataclass
class ArrivalRate:
    """An exponentially decayed count of arriving units, O(1) per arrival.

    Each unit counts with weight exp(-age / time_constant); the rate in units per hour
    is that weighted count divided by the time constant. Recent demand dominates and
    old bursts fade without keeping a window of events. `decayed_units` and
    `updated_at` are the whole state, so the service can persist and restore it.
    """

    time_constant: timedelta = timedelta(hours=6)
    decayed_units: float = 0.0
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.time_constant <= timedelta(0):
            raise ValueError("time_constant must be positive")

    def _decay(self, elapsed: timedelta) -> float:
        return math.exp(-max(elapsed, timedelta(0)) / self.time_constant)

    def record(self, units: int, at: datetime) -> None:
        """Count `units` arriving at `at`; a late (out-of-order) arrival is decayed to now."""
        require_aware(at, "at")
        if self.updated_at is None:
            self.decayed_units, self.updated_at = float(units), at
        elif at >= self.updated_at:
            self.decayed_units = self.decayed_units * self._decay(at - self.updated_at) + units
            self.updated_at = at
        else:
            self.decayed_units += units * self._decay(self.updated_at - at)

    def per_hour(self, now: datetime) -> float:
        """Units per hour as seen at `now`."""
        require_aware(now)
        if self.updated_at is None:
            return 0.0
        weighted = self.decayed_units * self._decay(now - self.updated_at)
        return weighted * (_HOUR / self.time_constant)


def leaving_share(arrivals: ArrivalRate, departures: ArrivalRate, now: datetime) -> float:
    """The share of arriving units that left their batch before release (cancelled, withdrawn), 0..1.

    Both counts decay alike, so their ratio weighs recent behaviour; no arrivals seen yet: 0."""
    arrived = arrivals.per_hour(now)
    if arrived <= 0:
        return 0.0
    return min(1.0, departures.per_hour(now) / arrived)
