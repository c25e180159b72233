"""The events the aggregator consumes, and which handler takes each."""

from __future__ import annotations

from aggregator.service_layer.handlers import Aggregator
from dropship_shared.batching import EventBatcher
from dropship_shared.messaging import Partitions, Subscription

BACKORDER_EVENTS = ("backorder.created", "backorder.cancelled", "backorder.withdrawal_requested")


def subscription(queue: str, service: Aggregator, max_batch: int, partitions: int = 0) -> Subscription:
    """Backorders arriving together share one transaction (group commit), each acked after it. Every backorder
    event names its supplier: with `partitions` they are spread over that many partition queues by supplier, so
    one replica at a time handles a supplier's events (and keeps its batch in memory)."""
    batcher = EventBatcher(service.on_backorder_events, max_batch)
    return Subscription(
        queue,
        dict.fromkeys(BACKORDER_EVENTS, batcher.handle),
        Partitions(partitions, frozenset(BACKORDER_EVENTS), service.cache.own, service.cache.forget_all)
        if partitions > 0
        else None,
    )
