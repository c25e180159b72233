"""Delivering the customer-message outbox: claim due messages, send them through their channel, mark them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from dropship_shared.events import utcnow
from dropship_shared.logs import get_logger
from orders.service_layer.ports import MessageChannel
from orders.service_layer.unit_of_work import OrdersUnitOfWork

log = get_logger(__name__)


@dataclass(frozen=True)
class DeliveryPolicy:
    batch_size: int = 50
    lease: timedelta = timedelta(seconds=60)  # a claimed message is retried after this if its sender died
    first_retry: timedelta = timedelta(seconds=2)
    max_retry: timedelta = timedelta(minutes=30)
    poll_seconds: float = 1.0


async def deliver_due_messages(
    uow_factory: Callable[[], OrdersUnitOfWork], channels: list[MessageChannel], policy: DeliveryPolicy
) -> int:
    """One pass over every channel; the number of messages sent."""
    sent = 0
    for channel in channels:
        async with uow_factory() as uow:
            claimed = await uow.notifications.claim_due(channel.name, utcnow(), policy.lease, policy.batch_size)
            await uow.commit()
        for message in claimed:
            # Sent outside any transaction; marked right after. A crash in between sends it again after
            # the lease: the stable message key (Message-ID, X-Event-Id) lets the receiver drop the repeat.
            try:
                await channel.send(message)
            except Exception as exc:
                delay = min(policy.first_retry * 2**message.attempts, policy.max_retry)
                async with uow_factory() as uow:
                    await uow.notifications.mark_failed(message.notification_id, repr(exc), utcnow() + delay)
                    await uow.commit()
                log.warning("customer message not delivered; will retry", channel=channel.name, error=repr(exc))
                continue
            async with uow_factory() as uow:
                await uow.notifications.mark_sent(message.notification_id, utcnow())
                await uow.commit()
            sent += 1
    return sent


async def run_message_delivery(
    uow_factory: Callable[[], OrdersUnitOfWork], channels: list[MessageChannel], policy: DeliveryPolicy
) -> None:
    """The background loop (a ServiceRuntime loop): deliver, then wait a little when there was nothing to do."""
    while True:
        sent = await deliver_due_messages(uow_factory, channels, policy)
        if sent < policy.batch_size:
            await asyncio.sleep(policy.poll_seconds)
