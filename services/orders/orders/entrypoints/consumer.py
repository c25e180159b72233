"""The events the orders service consumes, and which handler takes each."""

from __future__ import annotations

from functools import partial

from dropship_shared.messaging import Subscription
from orders.service_layer import handlers
from orders.service_layer.handlers import UnitOfWorkFactory


def subscription(queue: str, uow: UnitOfWorkFactory) -> Subscription:
    return Subscription(
        queue,
        {
            "purchase_order.requested": partial(handlers.on_purchase_order_requested, uow),
            "shipment.updated": partial(handlers.on_shipment_updated, uow),
        },
    )
