"""The events the orders service consumes, handled together as they arrive (group commit)."""

from __future__ import annotations

from functools import partial

from dropship_shared.batching import EventBatcher
from dropship_shared.messaging import Subscription
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.domain.promise import PromiseRules
from orders.service_layer import event_handlers, receiving
from orders.service_layer.unit_of_work import OrdersUnitOfWork


def subscription(
    queue: str, uow: UnitOfWorkFactory[OrdersUnitOfWork], rules: PromiseRules, max_batch: int
) -> Subscription:
    # One transaction for the deliveries waiting together; each is acked after the commit that carried it.
    batcher = EventBatcher(partial(event_handlers.handle_events, uow, rules=rules), max_batch)
    handlers = dict.fromkeys(event_handlers.CONSUMED, batcher.handle)
    # The answer to a withdrawal moves stock set aside, under the product's lock: in a transaction of its own.
    handlers["backorder.withdrawn"] = partial(receiving.on_backorder_withdrawn, uow, rules=rules)
    return Subscription(queue, handlers)
