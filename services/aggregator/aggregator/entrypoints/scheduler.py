"""The clock's entrypoint: looks for batches whose deadline or cut-off has come."""

from __future__ import annotations

import asyncio

from aggregator.service_layer.handlers import Aggregator


async def run_scheduler(service: Aggregator, interval_seconds: float) -> None:
    while True:
        await service.review_due_batches()
        await asyncio.sleep(interval_seconds)
