"""The events the orders service consumes, handled together as they arrive (group commit)."""

from __future__ import annotations

from functools import partial

from dropship_shared.batching import EventBatcher
from dropship_shared.messaging import Subscription
from orders.domain.promise import PromiseRules
from orders.service_layer import event_handlers
from orders.service_layer.handlers import UnitOfWorkFactory


def subscription(queue: str, uow: UnitOfWorkFactory, rules: PromiseRules, max_batch: int) -> Subscription:
    # One transaction for the deliveries waiting together; each is acked after the commit that carried it.
    batcher = EventBatcher(partial(event_handlers.handle_events, uow, rules=rules), max_batch)
    return Subscription(queue, dict.fromkeys(event_handlers.CONSUMED, batcher.handle))
