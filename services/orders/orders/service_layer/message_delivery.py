"""Delivering the customer-message outbox: claim due messages (recording the attempt), send them through
their channel several at a time, mark each as soon as it went; backlog and age as metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from prometheus_client import Gauge, Histogram

from dropship_shared.events import utcnow
from dropship_shared.logs import get_logger
from dropship_shared.transient import retry_transient
from orders.service_layer.ports import MessageChannel, OutgoingMessage
from orders.service_layer.unit_of_work import OrdersUnitOfWork

log = get_logger(__name__)

MESSAGE_BACKLOG = Gauge("customer_messages_backlog", "Customer messages not sent yet (all channels)")
MESSAGE_BACKLOG_AGE = Gauge("customer_messages_oldest_unsent_age_seconds", "Age of the oldest unsent customer message")
MESSAGE_DELIVERY = Histogram(
    "customer_message_delivery_seconds",
    "From a customer message's creation to its delivery",
    ["channel"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
)

UnitOfWorkFactory = Callable[[], OrdersUnitOfWork]


@dataclass(frozen=True)
class DeliveryPolicy:
    concurrency: int = 8  # messages in flight per channel (SMTP connections, webhook requests)
    # Claimed per pass: a small multiple of the concurrency, so a message created during a pass waits
    # for a short pass, not for a long batch to drain.
    batch_size: int = 16
    lease: timedelta = timedelta(seconds=60)  # a claimed message is retried after this if its sender died
    first_retry: timedelta = timedelta(seconds=2)
    max_retry: timedelta = timedelta(minutes=30)
    poll_seconds: float = 1.0
    claimant: str = "orders"  # this process's name on its claims, the same after a restart


async def deliver_due_messages(
    uow_factory: UnitOfWorkFactory, channels: list[MessageChannel], policy: DeliveryPolicy
) -> int:
    """One pass over every channel, the channels side by side; the number of messages sent."""
    async with asyncio.TaskGroup() as group:
        passes = [group.create_task(_deliver_channel(uow_factory, channel, policy)) for channel in channels]
    return sum(task.result() for task in passes)


async def _deliver_channel(uow_factory: UnitOfWorkFactory, channel: MessageChannel, policy: DeliveryPolicy) -> int:
    async def claim() -> list[OutgoingMessage]:
        async with uow_factory() as uow:
            claimed = await uow.notifications.claim_due(
                channel.name, utcnow(), policy.lease, policy.batch_size, policy.claimant
            )
            await uow.commit()
            return claimed

    slots = asyncio.Semaphore(policy.concurrency)

    async def deliver(message: OutgoingMessage) -> bool:
        async with slots:
            return await _deliver_one(uow_factory, channel, message, policy)

    claimed = await retry_transient(claim, "customer_message.claim")
    async with asyncio.TaskGroup() as group:
        deliveries = [group.create_task(deliver(message)) for message in claimed]
    return sum(task.result() for task in deliveries)


async def _deliver_one(
    uow_factory: UnitOfWorkFactory, channel: MessageChannel, message: OutgoingMessage, policy: DeliveryPolicy
) -> bool:
    # The attempt is on record (claim_due); sending and marking follow each other at once, so a crash
    # sends a message twice only if it falls between the two. The stable message key (Message-ID,
    # X-Event-Id) lets the receiver drop such a repeat.
    try:
        await channel.send(message)
    except Exception as exc:
        error = repr(exc)
        delay = min(policy.first_retry * 2 ** (message.attempts - 1), policy.max_retry)

        async def mark_failed() -> None:
            async with uow_factory() as uow:
                await uow.notifications.mark_failed(message.notification_id, error, utcnow() + delay)
                await uow.commit()

        await retry_transient(mark_failed, "customer_message.mark_failed")
        log.warning("customer message not delivered; will retry", channel=channel.name, error=error)
        return False

    async def mark_sent() -> None:
        async with uow_factory() as uow:
            await uow.notifications.mark_sent(message.notification_id, utcnow())
            await uow.commit()

    await retry_transient(mark_sent, "customer_message.mark_sent")
    MESSAGE_DELIVERY.labels(channel.name).observe((utcnow() - message.created_at).total_seconds())
    return True


async def reconcile_in_flight(uow_factory: UnitOfWorkFactory, policy: DeliveryPolicy) -> int:
    """At start-up: the messages this process was sending when it stopped may or may not have gone.
    They are sent again now, not after their lease, with the same Message-ID / X-Event-Id."""
    async with uow_factory() as uow:
        in_doubt = await uow.notifications.reclaim_in_doubt(policy.claimant, utcnow())
        await uow.commit()
    if in_doubt:
        log.warning("customer messages in doubt after a restart; sending again", count=in_doubt)
    return in_doubt


async def record_backlog(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        unsent, oldest = await uow.notifications.backlog()
    MESSAGE_BACKLOG.set(unsent)
    MESSAGE_BACKLOG_AGE.set((utcnow() - oldest).total_seconds() if oldest else 0)


class MessageDelivery:
    """The background loop (a ServiceRuntime loop): reconcile once, then deliver pass after pass, waiting
    a little only when nothing went. A restart of the loop after a crash does not reconcile again: this process's
    own sends may still be in flight then."""

    def __init__(self, uow_factory: UnitOfWorkFactory, channels: list[MessageChannel], policy: DeliveryPolicy) -> None:
        self._uow_factory = uow_factory
        self._channels = channels
        self._policy = policy
        self._reconciled = False

    async def run(self) -> None:
        if not self._reconciled:
            await reconcile_in_flight(self._uow_factory, self._policy)
            self._reconciled = True
        while True:
            sent = await deliver_due_messages(self._uow_factory, self._channels, self._policy)
            await record_backlog(self._uow_factory)
            if sent == 0:
                await asyncio.sleep(self._policy.poll_seconds)

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()
