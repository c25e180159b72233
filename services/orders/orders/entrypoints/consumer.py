"""The events the orders service consumes, and which handler takes each."""

from __future__ import annotations

from functools import partial

from dropship_shared.messaging import Subscription
from orders.domain.promise import PromiseRules
from orders.service_layer import event_handlers
from orders.service_layer.handlers import UnitOfWorkFactory


def subscription(queue: str, uow: UnitOfWorkFactory, rules: PromiseRules) -> Subscription:
    return Subscription(
        queue,
        {
            "purchase_order.requested": partial(event_handlers.on_purchase_order_requested, uow, rules=rules),
            "batch.escalated": partial(event_handlers.on_batch_escalated, uow),
            "batch.release_expected": partial(event_handlers.on_batch_release_expected, uow, rules=rules),
            "purchase_order.acknowledged": partial(event_handlers.on_purchase_order_acknowledged, uow, rules=rules),
            "shipment.updated": partial(event_handlers.on_shipment_updated, uow, rules=rules),
            "purchase_order.line_cancellation_resolved": partial(event_handlers.on_line_cancellation_resolved, uow),
            "purchase_order.failed": partial(event_handlers.on_purchase_order_failed, uow),
            "purchase_order.cancelled": partial(event_handlers.on_purchase_order_cancelled, uow),
            "purchase_order.line_late": partial(event_handlers.on_purchase_order_line_late, uow, rules=rules),
        },
    )
