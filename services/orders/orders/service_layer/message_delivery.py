"""Delivering the customer-message outbox: claim due messages (recording the attempt), hand each claimed batch
to its channel at once (which sends several at a time), record what went in groups; backlog and age as
metrics."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from prometheus_client import Gauge, Histogram

from dropship_shared.events import utcnow
from dropship_shared.logs import get_logger
from dropship_shared.transient import retry_transient
from dropship_shared.unit_of_work import UnitOfWorkFactory
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


@dataclass(frozen=True)
class DeliveryPolicy:
    # Claimed and not sent yet, per channel: handed to the channel at once, which sends as many at a time as
    # it has connections. Many per claim, because a claim waits its turn on a busy service's event loop;
    # sending a batch takes a fraction of a second.
    batch_size: int = 64
    # Claimed and not done yet, per channel, over all the claims in flight: a claim's room frees only when all of
    # its messages are done, so with room for several claims the next one is handed over while the last one's
    # final messages still go (the channel's connections are never idle between two claims).
    in_flight: int = 256
    lease: timedelta = timedelta(seconds=60)  # a claimed message is retried after this if its sender died
    first_retry: timedelta = timedelta(seconds=2)
    max_retry: timedelta = timedelta(minutes=30)
    # The sender wakes when a commit stores messages; this is only how often it looks for retries come due
    # (and for messages stored by another replica), and how often the backlog figures are refreshed.
    poll_seconds: float = 1.0
    # Woken by a commit, the sender waits this long before it claims, so that one claim (and one record of
    # what went) takes the messages of the commits that follow within it: under load intake commits dozens
    # of times a second, and a claim and a record per commit cost more CPU than sending the messages.
    linger_seconds: float = 0.05
    claimant: str = "orders"  # this process's name on its claims, the same after a restart


@dataclass(frozen=True)
class Outcome:
    """How sending one message went: when it went, or why not and when to try again."""

    message: OutgoingMessage
    went_at: datetime | None = None
    error: str = ""
    retry_at: datetime | None = None


class DeliveryRecord:
    """Writes down what went and what failed, many at a time: whatever finished while the last write ran
    goes into the next one. Recording costs one statement per group, not one per message, and a message is
    on record as soon as the write before it is done (the window in which a crash sends it twice), and
    `linger_seconds` after it finished at most when nothing was being written: a group gathers that long
    first, since messages finish one by one over the channel's connections."""

    def __init__(self, uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], linger_seconds: float = 0.0) -> None:
        self._uow_factory = uow_factory
        self._linger = linger_seconds
        self._outcomes: list[Outcome] = []
        self._written: asyncio.Future[None] | None = None  # resolved when the waiting outcomes are written
        self._writer: asyncio.Task[None] | None = None

    async def write(self, outcomes: list[Outcome]) -> None:
        """Returns once the outcomes are recorded: everyone of a group wakes at once when its write is done."""
        if not outcomes:
            return
        self._outcomes += outcomes
        if self._written is None:
            self._written = asyncio.get_running_loop().create_future()
        written = self._written
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_groups())
        await asyncio.shield(written)

    async def flush(self) -> None:
        """Wait until what finished is on record (at shutdown: a message that went is not sent again)."""
        if self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _write_groups(self) -> None:
        if self._linger > 0:
            await asyncio.sleep(self._linger)
        while self._outcomes and self._written is not None:
            outcomes, written = self._outcomes, self._written
            self._outcomes, self._written = [], None
            try:
                await retry_transient(partial(self._write, outcomes), "customer_message.record")
            except Exception as exc:
                written.set_exception(exc)
            else:
                written.set_result(None)

    async def _write(self, outcomes: list[Outcome]) -> None:
        async with self._uow_factory() as uow:
            await uow.notifications.mark_sent(
                [(done.message.notification_id, done.went_at) for done in outcomes if done.went_at]
            )
            await uow.notifications.mark_failed(
                [(done.message.notification_id, done.error, done.retry_at) for done in outcomes if done.retry_at]
            )
            await uow.commit()


async def claim(
    uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], channel: MessageChannel, policy: DeliveryPolicy, limit: int
) -> list[OutgoingMessage]:
    async def claim_due() -> list[OutgoingMessage]:
        async with uow_factory() as uow:
            claimed = await uow.notifications.claim_due(channel.name, utcnow(), policy.lease, limit, policy.claimant)
            await uow.commit()
            return claimed

    return await retry_transient(claim_due, "customer_message.claim")


async def send_claimed(
    channel: MessageChannel, messages: list[OutgoingMessage], policy: DeliveryPolicy
) -> list[Outcome]:
    """Send claimed messages through their channel, handed over together (the channel bounds how many go at
    once: its connections). The attempt is on record (claim_due) and the outcomes are recorded right after, so a
    crash sends a message twice only if it falls between the two; the stable message key (Message-ID,
    X-Event-Id) lets the receiver drop such a repeat."""
    if not messages:
        return []
    outcomes = []
    delivered = MESSAGE_DELIVERY.labels(channel.name)
    for message, result in zip(messages, await channel.send_many(messages), strict=True):
        if isinstance(result, Exception):
            error = repr(result)
            delay = min(policy.first_retry * 2 ** (message.attempts - 1), policy.max_retry)
            log.warning("customer message not delivered; will retry", channel=channel.name, error=error)
            outcomes.append(Outcome(message, error=error, retry_at=utcnow() + delay))
            continue
        delivered.observe((result - message.created_at).total_seconds())
        outcomes.append(Outcome(message, went_at=result))
    return outcomes


async def deliver_due_messages(
    uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], channels: list[MessageChannel], policy: DeliveryPolicy
) -> int:
    """One pass over every channel, the channels side by side: claim up to a batch each, send it, record
    it; the number of messages sent."""
    record = DeliveryRecord(uow_factory)

    async def deliver_channel(channel: MessageChannel) -> int:
        claimed = await claim(uow_factory, channel, policy, policy.batch_size)
        outcomes = await send_claimed(channel, claimed, policy)
        await record.write(outcomes)
        return sum(outcome.went_at is not None for outcome in outcomes)

    async with asyncio.TaskGroup() as group:
        passes = [group.create_task(deliver_channel(channel)) for channel in channels]
    return sum(task.result() for task in passes)


class ChannelSender:
    """One channel's sending, streamed: it hands what it claims (up to the policy's batch at a time) to the
    channel at once and claims more while they go, whenever a claim would find room for a quarter of a batch
    within the policy's `in_flight` claimed and unsent messages (a claim's room frees when all of its messages
    are done). It wakes when a commit stores messages, when room frees while messages wait, and every
    `poll_seconds` for retries come due."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory[OrdersUnitOfWork],
        channel: MessageChannel,
        policy: DeliveryPolicy,
        record: DeliveryRecord,
    ) -> None:
        self._uow_factory = uow_factory
        self._channel = channel
        self._policy = policy
        self._record = record
        self._wake = asyncio.Event()
        self._held = 0  # claimed and not sent yet
        self._more_due = False  # the last claim was cut short by the room left: claim again when room frees

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as deliveries:
            while True:
                self._wake.clear()
                room = min(self._policy.batch_size, self._policy.in_flight - self._held)
                roomy = room >= max(1, self._policy.batch_size // 4)
                claimed = await claim(self._uow_factory, self._channel, self._policy, room) if roomy else []
                if claimed:
                    self._held += len(claimed)
                    deliveries.create_task(self._deliver(claimed))
                if claimed and len(claimed) == room and self._held < self._policy.in_flight:
                    continue  # a full claim: more may be due, and there is room for them now
                self._more_due = not roomy or len(claimed) == room
                if self._more_due:
                    await self._wake.wait()
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self._policy.poll_seconds)
                if self._wake.is_set() and self._policy.linger_seconds > 0:
                    await asyncio.sleep(self._policy.linger_seconds)

    async def _deliver(self, claimed: list[OutgoingMessage]) -> None:
        try:
            outcomes = await send_claimed(self._channel, claimed, self._policy)
        finally:
            self._held -= len(claimed)
            if self._more_due:
                self._wake.set()
        await self._record.write(outcomes)


async def reconcile_in_flight(uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], policy: DeliveryPolicy) -> int:
    """At start-up: the messages this process was sending when it stopped may or may not have gone.
    They are sent again now, not after their lease, with the same Message-ID / X-Event-Id."""
    async with uow_factory() as uow:
        in_doubt = await uow.notifications.reclaim_in_doubt(policy.claimant, utcnow())
        await uow.commit()
    if in_doubt:
        log.warning("customer messages in doubt after a restart; sending again", count=in_doubt)
    return in_doubt


async def record_backlog(uow_factory: UnitOfWorkFactory[OrdersUnitOfWork]) -> None:
    async with uow_factory() as uow:
        unsent, oldest = await uow.notifications.backlog()
    MESSAGE_BACKLOG.set(unsent)
    MESSAGE_BACKLOG_AGE.set((utcnow() - oldest).total_seconds() if oldest else 0)


class MessageDelivery:
    """The background loop (a ServiceRuntime loop): reconcile once, then one streaming sender per channel
    and the backlog figures. `wake` is what the unit of work calls when it commits new messages. A restart
    of the loop after a crash does not reconcile again: this process's own sends may still be in flight then.

    `uow_factory` should have connections of its own (ServiceRuntime.own_sessions), so that claiming and
    recording do not queue behind the event handlers for one."""

    def __init__(
        self, uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], channels: list[MessageChannel], policy: DeliveryPolicy
    ) -> None:
        self._uow_factory = uow_factory
        self._channels = channels
        self._policy = policy
        self._reconciled = False
        self._senders: list[ChannelSender] = []

    def wake(self) -> None:
        for sender in self._senders:
            sender.wake()

    async def run(self) -> None:
        if not self._reconciled:
            await reconcile_in_flight(self._uow_factory, self._policy)
            self._reconciled = True
        record = DeliveryRecord(self._uow_factory, self._policy.linger_seconds)
        self._senders = [ChannelSender(self._uow_factory, channel, self._policy, record) for channel in self._channels]
        try:
            async with asyncio.TaskGroup() as group:
                for sender in self._senders:
                    group.create_task(sender.run())
                group.create_task(self._record_backlog())
        finally:  # stopped (shutdown): what went is put on record first, so it is not sent again after a restart
            with contextlib.suppress(Exception):
                await record.flush()

    async def _record_backlog(self) -> None:
        while True:
            await record_backlog(self._uow_factory)
            await asyncio.sleep(self._policy.poll_seconds)

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()
