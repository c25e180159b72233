"""The events the aggregator consumes, and which handler takes each."""

from __future__ import annotations

from aggregator.service_layer.handlers import Aggregator
from dropship_shared.batching import EventBatcher
from dropship_shared.messaging import Subscription


def subscription(queue: str, service: Aggregator, max_batch: int) -> Subscription:
    """Backorders arriving together share one transaction (group commit), each acked after it."""
    batcher = EventBatcher(service.on_backorder_events, max_batch)
    return Subscription(
        queue,
        {
            "backorder.created": batcher.handle,
            "backorder.cancelled": batcher.handle,
            "backorder.withdrawal_requested": batcher.handle,
        },
    )
