"""The events the aggregator consumes, and which handler takes each."""

from __future__ import annotations

from aggregator.service_layer.handlers import Aggregator
from dropship_shared.messaging import Subscription


def subscription(queue: str, service: Aggregator) -> Subscription:
    return Subscription(
        queue,
        {
            "backorder.created": service.on_backorder_created,
            "backorder.cancelled": service.on_backorder_cancelled,
        },
    )
