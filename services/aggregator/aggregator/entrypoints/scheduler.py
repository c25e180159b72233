"""The clock's entrypoint: looks for batches whose deadline or cut-off has come."""

from __future__ import annotations

import asyncio

from aggregator.service_layer import handlers
from aggregator.service_layer.batches import BatchCache
from aggregator.service_layer.handlers import MerchantTerms
from aggregator.service_layer.unit_of_work import AggregatorUnitOfWork
from dropship_shared.unit_of_work import UnitOfWorkFactory


async def run_scheduler(
    uow_factory: UnitOfWorkFactory[AggregatorUnitOfWork],
    batches: BatchCache,
    terms: MerchantTerms,
    interval_seconds: float,
) -> None:
    while True:
        await handlers.review_due_batches(uow_factory, batches, terms)
        await asyncio.sleep(interval_seconds)
