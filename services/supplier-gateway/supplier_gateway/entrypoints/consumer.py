"""The events the supplier gateway consumes, and which handler takes each."""

from __future__ import annotations

import asyncio
from functools import partial

from dropship_shared.events import Envelope
from dropship_shared.messaging import Subscription
from dropship_shared.unit_of_work import UnitOfWorkFactory
from supplier_gateway.service_layer import handlers, supplier_exceptions
from supplier_gateway.service_layer.unit_of_work import GatewayUnitOfWork


def subscription(queue: str, uow: UnitOfWorkFactory[GatewayUnitOfWork], dispatch_ready: asyncio.Event) -> Subscription:
    async def on_requested(envelope: Envelope) -> None:
        await handlers.on_purchase_order_requested(uow, envelope)
        dispatch_ready.set()  # send it now rather than at the dispatcher's next tick

    return Subscription(
        queue,
        {
            "purchase_order.requested": on_requested,
            "purchase_order.cancel_requested": partial(handlers.on_purchase_order_cancel_requested, uow),
            "dead_letter.recorded": partial(supplier_exceptions.on_dead_letter_recorded, uow),
        },
    )
