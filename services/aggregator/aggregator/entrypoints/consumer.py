"""The events the aggregator consumes, and which handler takes each."""

from __future__ import annotations

from functools import partial

from aggregator.service_layer import handlers
from aggregator.service_layer.batches import BatchCache
from aggregator.service_layer.handlers import MerchantTerms
from aggregator.service_layer.unit_of_work import AggregatorUnitOfWork
from dropship_shared.batching import EventBatcher
from dropship_shared.messaging import Partitions, Subscription
from dropship_shared.unit_of_work import UnitOfWorkFactory

BACKORDER_EVENTS = ("backorder.created", "backorder.cancelled", "backorder.withdrawal_requested")


def subscription(
    queue: str,
    uow_factory: UnitOfWorkFactory[AggregatorUnitOfWork],
    batches: BatchCache,
    terms: MerchantTerms,
    max_batch: int,
    partitions: int = 0,
) -> Subscription:
    """Backorders arriving together share one transaction (group commit), each acked after it. Every backorder
    event names its supplier: with `partitions` they are spread over that many partition queues by supplier, so
    one replica at a time handles a supplier's events (and keeps its batch in memory)."""
    batcher = EventBatcher(partial(handlers.on_backorder_events, uow_factory, batches, terms), max_batch)
    return Subscription(
        queue,
        dict.fromkeys(BACKORDER_EVENTS, batcher.handle),
        Partitions(partitions, frozenset(BACKORDER_EVENTS), batches.own, batches.forget_all)
        if partitions > 0
        else None,
    )
