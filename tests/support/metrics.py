"""Reading a service's `/metrics` as Prometheus would, and waiting until a figure moves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from support.polling import DEADLINE_SECONDS

SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}


@dataclass(frozen=True)
class Scrape:
    """One scrape: every sample by name, with its labels."""

    samples: list[tuple[str, dict[str, str], float]]
    families: dict[str, str]  # family name -> type (counter, gauge, histogram, ...)

    @classmethod
    def of(cls, text: str) -> Scrape:
        samples: list[tuple[str, dict[str, str], float]] = []
        families: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            families[family.name] = family.type
            samples.extend((sample.name, dict(sample.labels), float(sample.value)) for sample in family.samples)
        return cls(samples, families)

    def total(self, name: str, **labels: str) -> float:
        """The sum of the samples named `name` whose labels include `labels` (0 when there is none)."""
        return sum(value for found, own, value in self.samples if found == name and labels.items() <= own.items())

    def value(self, name: str, **labels: str) -> float | None:
        """The one sample named `name` with exactly these labels, None when absent."""
        return next((value for found, own, value in self.samples if found == name and own == labels), None)

    def names(self) -> set[str]:
        """The series names a query can use, also for a family with no sample yet (a labelled counter no
        one incremented): a counter's `_total`, a histogram's `_bucket`, `_count` and `_sum`, a gauge's own."""
        names = {name for name, _, _ in self.samples}
        for family, kind in self.families.items():
            names.update(family + suffix for suffix in SERIES_SUFFIXES.get(kind, ("",)))
        return names


async def scrape(client: httpx.AsyncClient) -> Scrape:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return Scrape.of(response.text)


async def scraped_until(
    client: httpx.AsyncClient, accept: Callable[[Scrape], bool], timeout: float = DEADLINE_SECONDS
) -> Scrape:
    """The first scrape `accept` takes; fails with the last one's samples after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        seen = await scrape(client)
        if accept(seen):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout}s; last scrape: {seen.samples!r}")
        await asyncio.sleep(0.1)
