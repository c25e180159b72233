"""Prometheus metrics shared by the services' plumbing, and the figures read when Prometheus scrapes.

Two kinds of metric leave a service's `/metrics`:

- what the process counts as it works (counters, histograms, gauges of its own memory), in the
  process-wide registry: across replicas these are *summed* (`sum without (instance)`);
- figures read from the database or the broker at the moment of the scrape (`ScrapeTimeFigures`): every
  replica reads the same rows and the same queues, so across replicas they are the same figure seen
  several times and are aggregated with *max* (`max without (instance)`), never summed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from dropship_shared.logs import get_logger

log = get_logger(__name__)

EVENTS_PUBLISHED = Counter("events_published_total", "Events published with a broker confirm", ["event_type"])
EVENTS_CONSUMED = Counter("events_consumed_total", "Events handled and acked", ["queue", "event_type"])
# An alert: every increase is an event nobody handled (reason: malformed | handler_failed).
EVENTS_DEAD_LETTERED = Counter("events_dead_lettered_total", "Events moved to a DLQ", ["queue", "reason"])
# A delivery the broker flagged as seen before: a handler failed and requeued it, or a consumer died holding it.
EVENTS_REDELIVERED = Counter(
    "events_redelivered_total",
    "Deliveries of an event the broker had delivered before (a handler failed, or a consumer died holding it)",
    ["queue"],
)
TRANSIENT_DATABASE_RETRIES = Counter(
    "transient_database_retries_total",
    "Passing database conflicts (deadlock, lock timeout, busy SQLite) retried in place",
    ["operation", "kind"],
)

FigureSource = Callable[[], Awaitable[Iterable[Metric]]]


def age_seconds(since: datetime | None, now: datetime) -> float:
    """Seconds from `since` to `now` (0 when there is nothing waiting)."""
    return max((now - since).total_seconds(), 0.0) if since is not None else 0.0


def gauge(name: str, documentation: str, labels: Sequence[str] = ()) -> GaugeMetricFamily:
    """An empty gauge family for a scrape-time source to fill (`.add_metric([label values], value)`)."""
    return GaugeMetricFamily(name, documentation, labels=list(labels))


@dataclass(eq=False)  # hashed by identity, as the registry keeps it
class _Fixed(Collector):
    families: Sequence[Metric]

    def collect(self) -> Iterable[Metric]:
        return self.families


class ScrapeTimeFigures:
    """Gauges that need a database query or a broker call, read when `/metrics` is scraped.

    Each source is one coroutine giving its metric families; they run concurrently, each within a timeout.
    A source that fails or times out leaves its figures out of that scrape (absent, not stale) and reports
    `metrics_source_up{source} 0`, so an alert on `== 0` or `absent()` sees it. Nothing runs between
    scrapes: a replica nobody scrapes costs nothing, and a scraped one costs a few aggregate queries
    (each over an index or a small table) every scrape interval.
    """

    def __init__(self, timeout_seconds: float = 5.0) -> None:
        self._sources: dict[str, FigureSource] = {}
        self._timeout = timeout_seconds

    def add(self, source: str, read: FigureSource) -> None:
        self._sources[source] = read

    @property
    def sources(self) -> list[str]:
        return list(self._sources)

    async def read(self) -> list[Metric]:
        names = list(self._sources)
        started = time.perf_counter()
        results = await asyncio.gather(
            *(asyncio.wait_for(self._read_one(self._sources[name]), self._timeout) for name in names),
            return_exceptions=True,
        )
        up = gauge(
            "metrics_source_up",
            "1 when a scrape-time source (database or broker figures) answered at this scrape, 0 when it failed",
            ["source"],
        )
        families: list[Metric] = []
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("metrics source failed", source=name, error=repr(result))
                up.add_metric([name], 0)
            else:
                up.add_metric([name], 1)
                families.extend(result)
        took = gauge("metrics_scrape_read_seconds", "How long this scrape's database and broker reads took")
        took.add_metric([], time.perf_counter() - started)
        return [*families, up, took]

    @staticmethod
    async def _read_one(read: FigureSource) -> list[Metric]:
        return list(await read())

    async def exposition(self) -> bytes:
        """The process-wide registry followed by this scrape's figures, in the text format."""
        own = CollectorRegistry(auto_describe=False)
        own.register(_Fixed(await self.read()))
        return generate_latest(REGISTRY) + generate_latest(own)
