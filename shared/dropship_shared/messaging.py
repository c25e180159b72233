"""RabbitMQ plumbing on aio-pika: one topic exchange, quorum queues with dead-letter queues,
publisher confirms, and the one consumer loop every service uses (ack only after commit). Deliveries come
straight from aiormq's channel under aio-pika's robust one (`dropship_shared.consumers`), and the acks of a
batch go in one write (`dropship_shared.acknowledgements`): the per-event cost of the plumbing.

A subscription may spread some of its events over partition queues by their partition key (the supplier):
the consistent-hash exchange sends each key to one partition, and each partition queue has a single active
consumer, so one replica at a time handles a key's events, in order, until it is gone (README "Replicas")."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

import aio_pika
import aiormq
from aio_pika import IncomingMessage
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)
from aiormq.abc import DeliveredMessage

from dropship_shared.acknowledgements import Acknowledgements
from dropship_shared.broker_cluster import BrokerAddresses, connect_to_cluster, parse_broker_addresses
from dropship_shared.confirmed_publish import PARTITION_KEY, NotConfirmed, Outgoing, publish_confirmed
from dropship_shared.consumers import Consumer, consume
from dropship_shared.events import EVENT_TYPE_OF, DeadLetterRecorded, Envelope, EventError, utcnow
from dropship_shared.logs import bind_correlation_id, get_logger
from dropship_shared.metrics import EVENTS_CONSUMED, EVENTS_DEAD_LETTERED, EVENTS_PUBLISHED, EVENTS_REDELIVERED
from dropship_shared.tracing import TRACEPARENT, consuming
from dropship_shared.transient import retry_transient

log = get_logger(__name__)

EventHandler = Callable[[Envelope], Awaitable[None]]
DEAD_LETTER_RECORDED = EVENT_TYPE_OF[DeadLetterRecorded]
NOTICE_BODY_BYTES = 4000  # of a dead message, in its notice
# The partition key (PARTITION_KEY header) is the event's supplier: the first `supplier_id` of its JSON (the
# payload's own, its envelope fields have none).
_STORED_SUPPLIER = re.compile(r'"supplier_id":("(?:[^"\\]|\\.)*")')
CONSISTENT_HASH = "x-consistent-hash"  # the exchange type of the rabbitmq_consistent_hash_exchange plugin
MAX_LEFTOVER_PARTITIONS = 256  # looked for beyond the configured count (drained after the count was lowered)
MAX_DEAD_LETTERS_SEARCHED = 100_000  # for one message id, in a dead-letter queue


def partition_key_in(envelope_json: str) -> str | None:
    """The partition key of an envelope stored whole (an outbox row), found without parsing the whole JSON; the
    same text `Envelope.payload["supplier_id"]` holds, so both ways of publishing hash the same."""
    found = _STORED_SUPPLIER.search(envelope_json)
    if found is None:
        return None
    key = json.loads(found.group(1))
    return key if isinstance(key, str) else None


def partition_key_of(envelope: Envelope) -> str | None:
    key = envelope.payload.get("supplier_id")
    return key if isinstance(key, str) else None


class BrokerState(StrEnum):
    """What `/readyz` and the `broker_connected` gauge say of a process's broker connection."""

    CONNECTED = "connected"  # connected, subscribed, consumers in place
    CONNECTING = "connecting"  # not yet connected and subscribed since the process started
    RECONNECTING = "reconnecting"  # the connection was lost: aio-pika is restoring it (maybe on another node)
    PLUGIN_MISSING = "plugin_missing"  # the broker refuses the partitions' consistent-hash exchange


class BrokerPluginMissing(RuntimeError):
    """The broker has no consistent-hash exchange type: its plugin is not enabled."""


@dataclass(frozen=True)
class Partitions:
    """Events of these types go to `count` partition queues `<queue>.p<n>` by their partition key instead of the
    subscription's plain queue. Every replica consumes every partition; the broker lets one consumer of each take
    its messages (single active consumer) and hands it to the next when that one is gone.

    `on_delivery(key)` is told each key delivered from a partition (this replica is now its partition's active
    consumer); `on_lost()` when this replica's consumers were lost (connection lost or re-opened): another replica
    may be handling those keys from then on, so what is kept in memory about them is no longer known current."""

    count: int
    routing_keys: frozenset[str]
    on_delivery: Callable[[str], None] = lambda _: None
    on_lost: Callable[[], None] = lambda: None
    # This process's rank for each partition (its consumer priority there): where the broker makes the
    # highest-priority consumer the active one (RabbitMQ 4.0 on), partitions spread over the replicas whatever
    # their start order (rendezvous hashing); before, the first consumer registered is the active one.
    replica: str = field(default_factory=lambda: uuid.uuid4().hex)

    def priority(self, partition: int) -> int:
        digest = hashlib.blake2b(f"{self.replica}/{partition}".encode(), digest_size=4).digest()
        return int.from_bytes(digest) % 1_000_000


def consumer_tag(queue: str) -> str:
    """A tag of our own for a consumer (the queue's name, for `rabbitmqctl list_consumers`, and 128 bits of
    urandom): aiormq's default draws from Python's global `random`, which a test framework reseeds (Hypothesis
    does, per example, with a served app in the same process), so two consumers of one channel got the same
    tag and the second was refused (DuplicateConsumerTag)."""
    return f"{queue}.{uuid.uuid4().hex}"


def partition_queue(queue: str, partition: int) -> str:
    return f"{queue}.p{partition}"


def partition_exchange(queue: str) -> str:
    """The consistent-hash exchange of a subscription's partitions, bound to the events exchange."""
    return f"{queue}.partitions"


@dataclass(frozen=True)
class Subscription:
    """A service's queue: which event types it binds and who handles each (some, maybe, over partitions)."""

    queue: str
    handlers: Mapping[str, EventHandler]
    partitions: Partitions | None = None


class Broker:
    """One connection per process; a confirming channel for publishing, one channel per consumer."""

    def __init__(self, amqp_url: str, exchange: str, prefetch: int = 64, delivery_limit: int = 5) -> None:
        self._addresses = BrokerAddresses(parse_broker_addresses(amqp_url))
        self._exchange_name = exchange
        self._prefetch = prefetch
        self._delivery_limit = delivery_limit
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._dead_letter_exchange: AbstractExchange | None = None
        self._consumer_channels: list[AbstractChannel] = []
        self._restoring = False  # the connection was lost: channels and consumers are not back yet
        self._partition_counts: dict[str, int] = {}  # subscription queue → its partitions
        self._acknowledgements = Acknowledgements()  # a batch's acks in one write

    @property
    def dead_letter_exchange_name(self) -> str:
        return f"{self._exchange_name}.dlx"

    async def connect(self) -> None:
        # A robust connection re-opens channels, re-declares topology and resumes consumers after a broker
        # restart, on the next node of a cluster; unconfirmed publishes raise and the outbox relay retries them.
        self._connection = await connect_to_cluster(self._addresses)
        self._restoring = False
        self._connection.close_callbacks.add(self._on_lost)
        self._connection.reconnect_callbacks.add(self._on_restored)
        self._publish_channel = await self._connection.channel(publisher_confirms=True)
        await self._publish_channel.declare_exchange(self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        self._dead_letter_exchange = await self._publish_channel.declare_exchange(
            self.dead_letter_exchange_name, aio_pika.ExchangeType.DIRECT, durable=True
        )

    def _on_lost(self, *_: object) -> None:
        self._restoring = True

    def _on_restored(self, *_: object) -> None:
        self._restoring = False
        log.info("broker connection restored", address=self.address)

    @property
    def connected(self) -> bool:
        """Connected with every channel and consumer in place: false from the moment the connection is lost
        until aio-pika has reconnected (maybe to another node) and restored them (`/readyz` reports
        "reconnecting" meanwhile, the `broker_connected` gauge 0)."""
        connection = self._connection
        return (
            connection is not None
            and not connection.is_closed
            and connection.connected.is_set()
            and not self._restoring
        )

    def _consuming_connection(self) -> AbstractRobustConnection:
        """For an operator's look or replay: refused at once while the connection is away or being restored
        (the caller answers 503), rather than waiting on a channel that cannot open."""
        if self._connection is None or not self.connected:
            raise RuntimeError("broker not connected")
        return self._connection

    @property
    def address(self) -> str | None:
        """The node this process is connected to (or reconnecting to), password hidden."""
        return str(self._connection) if self._connection is not None else None

    async def close(self) -> None:
        for channel in self._consumer_channels:
            if not channel.is_closed:
                await channel.close()
        self._consumer_channels.clear()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def publish_raw(
        self,
        routing_key: str,
        body: bytes,
        event_id: str,
        correlation_id: str,
        traceparent: str | None = None,
        partition_key: str | None = None,
    ) -> None:
        """Publish persistently and wait for the broker's confirm (raises if not confirmed); `traceparent` goes
        in the W3C header of that name, where consumers continue the trace; `partition_key` (the supplier) in
        the header partitioned subscriptions hash on."""
        [outcome] = await self.publish_many(
            [Outgoing(routing_key, body, event_id, correlation_id, traceparent, partition_key)]
        )
        if outcome is not None:
            raise outcome

    async def publish_many(self, messages: Sequence[Outgoing], confirm_within: float = 10) -> list[NotConfirmed | None]:
        """Publish persistently in one socket write and wait (up to `confirm_within` seconds) for the broker's
        confirms: for each message None once confirmed, else why not. Raises only if no channel is open to
        publish on."""
        if self._publish_channel is None:
            raise RuntimeError("broker not connected")
        channel = cast(aiormq.Channel, await self._publish_channel.get_underlay_channel())
        outcomes = await publish_confirmed(channel, self._exchange_name, messages, confirm_within)
        # Counted per event type, not per message: a label lookup for each message showed in the relay's profile.
        confirmed = Counter(
            message.routing_key for message, outcome in zip(messages, outcomes, strict=True) if outcome is None
        )
        for routing_key, count in confirmed.items():
            EVENTS_PUBLISHED.labels(routing_key).inc(count)
        return outcomes

    async def publish(self, envelope: Envelope) -> None:
        await self.publish_raw(
            envelope.type,
            envelope.to_bytes(),
            str(envelope.event_id),
            envelope.correlation_id,
            envelope.traceparent,
            partition_key_of(envelope),
        )

    async def declare_queue(
        self, channel: AbstractChannel, queue: str, routing_keys: list[str], single_active_consumer: bool = False
    ) -> Any:
        """A durable quorum queue bound to the routing keys, dead-lettering into `<queue>.dlq`."""
        declared = await self._declare_quorum_queue(channel, queue, queue, single_active_consumer)
        exchange = await channel.declare_exchange(self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        for routing_key in routing_keys:
            await declared.bind(exchange, routing_key=routing_key)
        return declared

    async def _declare_quorum_queue(
        self, channel: AbstractChannel, queue: str, dead_letters_of: str, single_active_consumer: bool
    ) -> Any:
        """A durable quorum queue dead-lettering into `<dead_letters_of>.dlq` (partitions share their
        subscription's: one place for an operator to look and replay from)."""
        dead_letter_exchange = await channel.declare_exchange(
            self.dead_letter_exchange_name, aio_pika.ExchangeType.DIRECT, durable=True
        )
        dead_letters = await channel.declare_queue(
            f"{dead_letters_of}.dlq", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead_letters.bind(dead_letter_exchange, routing_key=dead_letters_of)
        arguments: dict[str, Any] = {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": self.dead_letter_exchange_name,
            "x-dead-letter-routing-key": dead_letters_of,
            "x-delivery-limit": self._delivery_limit,
        }
        if single_active_consumer:
            arguments["x-single-active-consumer"] = True
        return await channel.declare_queue(queue, durable=True, arguments=arguments)

    async def subscribe(self, subscription: Subscription) -> None:
        """Start consuming; each message is acked only after its handler returned (its transaction committed).

        A partitioned subscription's events go to its partitions once those are bound; its plain queue keeps
        the other events and is still consumed, so what it held from before (or from a replica not yet
        partitioned) is drained, never lost. Partitions beyond the configured count (it was lowered) stop
        receiving and are drained the same way."""
        if self._connection is None:
            raise RuntimeError("broker not connected")
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self._prefetch)
        self._consumer_channels.append(channel)
        queue, partition_queues, leftovers = await self._declare_topology(channel, subscription)
        partitions = subscription.partitions

        async def on_message(message: DeliveredMessage) -> None:
            await self._deliver(subscription, message)

        consumers = [
            Consumer(draining.name, consumer_tag(draining.name), on_message) for draining in [queue, *leftovers]
        ]
        if partitions is not None:

            async def on_partition_message(message: DeliveredMessage) -> None:
                key = (message.header.properties.headers or {}).get(PARTITION_KEY)
                if isinstance(key, str):
                    partitions.on_delivery(key)
                await self._deliver(subscription, message)

            # The consumers go with their channel or connection; re-opened, they queue up behind the others again.
            channel.close_callbacks.add(lambda *_: partitions.on_lost())
            self._connection.close_callbacks.add(lambda *_: partitions.on_lost())
            self._connection.reconnect_callbacks.add(lambda *_: partitions.on_lost())
            # Highest rank first: replicas starting together each register first (and so become active) on their
            # own top partitions; a broker from RabbitMQ 4.0 on also makes the highest-priority consumer the active
            # one.
            ranked = sorted(range(len(partition_queues)), key=partitions.priority, reverse=True)
            consumers += [
                Consumer(
                    partition_queues[number].name,
                    consumer_tag(partition_queues[number].name),
                    on_partition_message,
                    {"x-priority": partitions.priority(number)},
                )
                for number in ranked
            ]
        await consume(channel, consumers)

    async def declare_topology(self, subscription: Subscription) -> None:
        """Declare what `subscribe` declares (exchanges, queue, dead-letter queue, bindings, partitions) without
        consuming: run by `python -m <service> migrate` before a release's first replica starts, so the events
        published meanwhile wait in the queues instead of being routed nowhere. Idempotent."""
        if self._connection is None:
            raise RuntimeError("broker not connected")
        async with self._connection.channel() as channel:
            await self._declare_topology(channel, subscription)

    async def _declare_topology(
        self, channel: AbstractChannel, subscription: Subscription
    ) -> tuple[Any, list[Any], list[Any]]:
        """The subscription's plain queue, its partition queues and the partitions left from a larger count."""
        partitions = subscription.partitions
        partitioned = partitions.routing_keys if partitions is not None else frozenset()
        partition_queues = await self._declare_partitions(channel, subscription.queue, partitions)
        self._partition_counts[subscription.queue] = len(partition_queues)
        plain = [key for key in subscription.handlers if key not in partitioned]
        queue = await self.declare_queue(channel, subscription.queue, plain)
        exchange = await channel.get_exchange(self._exchange_name)
        for routing_key in sorted(partitioned):  # now routed to the partitions: the plain queue only drains them
            await queue.unbind(exchange, routing_key=routing_key)
        leftovers = await self._leftover_partitions(channel, subscription.queue, partitions)
        return queue, partition_queues, leftovers

    async def _declare_partitions(
        self, channel: AbstractChannel, queue: str, partitions: Partitions | None
    ) -> list[Any]:
        """The consistent-hash exchange (hashing on the partition key header), bound to the events exchange for
        the partitioned events, and the partition queues (single active consumer) bound to it with equal weight."""
        if partitions is None or partitions.count < 1:
            return []
        try:
            hashing = await channel.declare_exchange(
                partition_exchange(queue), CONSISTENT_HASH, durable=True, arguments={"hash-header": PARTITION_KEY}
            )
        except aio_pika.exceptions.AMQPError as exc:
            raise BrokerPluginMissing(
                "the broker has no consistent-hash exchange: enable its plugin "
                "(rabbitmq-plugins enable rabbitmq_consistent_hash_exchange) or set the partition count to 0"
            ) from exc
        declared = []
        for number in range(partitions.count):
            partition = await self._declare_quorum_queue(
                channel, partition_queue(queue, number), queue, single_active_consumer=True
            )
            await partition.bind(hashing, routing_key="1")  # the weight: every partition takes an equal share
            declared.append(partition)
        events = await channel.get_exchange(self._exchange_name)
        for routing_key in sorted(partitions.routing_keys):
            await hashing.bind(events, routing_key=routing_key)
        return declared

    async def _leftover_partitions(
        self, channel: AbstractChannel, queue: str, partitions: Partitions | None
    ) -> list[Any]:
        """Partition queues numbered from the configured count on, left from a larger count: unbound from the
        hash exchange (no more events go there), to be drained."""
        if self._connection is None:
            raise RuntimeError("broker not connected")
        found = []
        for number in range(partitions.count if partitions is not None else 0, MAX_LEFTOVER_PARTITIONS):
            name = partition_queue(queue, number)
            async with self._connection.channel() as probe:  # a missing queue closes the channel that asked
                try:
                    await probe.declare_queue(name, passive=True)
                except aio_pika.exceptions.ChannelNotFoundEntity:
                    break
            leftover = await channel.declare_queue(name, passive=True)
            await leftover.unbind(partition_exchange(queue), routing_key="1")
            found.append(leftover)
        return found

    async def _deliver(self, subscription: Subscription, delivered: DeliveredMessage) -> None:
        """Handle one delivery; acked once handled (committed), requeued after a failure, dead-lettered when it
        can never be handled or failed too often. Taken as aiormq hands it over: aio-pika's message (an object
        of a dozen guarded fields) is built only on the way to a nack or a dead letter."""
        if delivered.redelivered:
            EVENTS_REDELIVERED.labels(subscription.queue).inc()
        headers = delivered.header.properties.headers
        try:
            envelope = Envelope.from_bytes(delivered.body)
            handler = subscription.handlers.get(envelope.type)
            if handler is None:
                raise EventError(f"{subscription.queue} has no handler for {envelope.type!r}")
        except EventError as exc:
            await self._dead_letter(subscription.queue, IncomingMessage(delivered), str(exc))
            return
        bind_correlation_id(envelope.correlation_id)
        try:
            # A passing database conflict is retried here, on this delivery: it never counts
            # against the delivery limit, so only an event that fails for itself is dead-lettered.
            with consuming(subscription.queue, envelope.type, headers):
                await retry_transient(lambda: handler(envelope), envelope.type)
        except Exception as exc:
            message = IncomingMessage(delivered)
            previous = (headers or {}).get("x-delivery-count", 0)
            deliveries = (previous if isinstance(previous, int) else 0) + 1
            if deliveries > self._delivery_limit:
                await self._dead_letter(
                    subscription.queue, message, f"handler failed {deliveries} times: {exc!r}", "handler_failed"
                )
                return
            log.warning(
                "handler failed; message requeued",
                queue=subscription.queue,
                event_type=envelope.type,
                event_id=str(envelope.event_id),
                deliveries=deliveries,
                error=repr(exc),
            )
            # A short, growing pause keeps a failing handler from spinning; after the delivery
            # limit the message goes to the DLQ with the last error (the queue's own limit is the backstop).
            await asyncio.sleep(min(0.1 * 2**deliveries, 2.0))
            await message.nack(requeue=True)
            return
        await self._acknowledgements.ack(delivered)
        EVENTS_CONSUMED.labels(subscription.queue, envelope.type).inc()

    async def _dead_letter(
        self, queue: str, message: AbstractIncomingMessage, error: str, reason: str = "malformed"
    ) -> None:
        """Move a message that can never be handled to the queue's DLQ, with the reason attached, and say so
        with a `dead_letter.recorded` event (the exceptions inbox files it), before the message is acked."""
        log.error("dead-lettering message", queue=queue, reason=reason, error=error[:500])
        if self._publish_channel is None:
            raise RuntimeError("broker not connected")
        dead_letter_exchange = await self._publish_channel.get_exchange(self.dead_letter_exchange_name)
        headers = dict(message.headers or {})
        headers.update({"x-error": error[:2000], "x-original-routing-key": message.routing_key or ""})
        await dead_letter_exchange.publish(
            aio_pika.Message(
                message.body,
                headers=headers,
                content_type=message.content_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message.message_id,
            ),
            routing_key=queue,
            timeout=10,
        )
        if message.routing_key != DEAD_LETTER_RECORDED:  # a notice that cannot be handled sends no notice
            await self.publish(_dead_letter_notice(queue, message, error, reason))
        await message.ack()
        EVENTS_DEAD_LETTERED.labels(queue, reason).inc()

    async def queue_depth(self, queue: str) -> int:
        """Messages ready in a queue (passive declare), for readiness and the dashboard; for the queue of a
        partitioned subscription of this process, with those in its partitions (the consumer's whole lag)."""
        if self._connection is None:
            raise RuntimeError("broker not connected")
        names = [queue, *(partition_queue(queue, n) for n in range(self._partition_counts.get(queue, 0)))]
        ready = 0
        async with self._connection.channel() as channel:
            for name in names:
                declared = await channel.declare_queue(name, passive=True)
                ready += int(declared.declaration_result.message_count or 0)
        return ready

    async def dead_letters(self, queue: str, limit: int = 50) -> list[DeadLetter]:
        """A look at the first messages of `<queue>.dlq` without taking them (they stay, in order)."""
        connection = self._consuming_connection()
        found: list[DeadLetter] = []
        channel = await connection.channel()
        try:
            dead_letters = await channel.declare_queue(f"{queue}.dlq", passive=True)
            found = [DeadLetter.of(message) async for message in _waiting(dead_letters, limit)]
        finally:
            await channel.close()  # unacknowledged: every message goes back to the queue
        return found

    async def replay_dead_letters(self, queue: str, limit: int = 1000) -> int:
        """Publish dead-lettered messages again under their original routing key (after the fix shipped)."""
        connection = self._consuming_connection()
        replayed = 0
        channel = await connection.channel(publisher_confirms=True)
        try:
            dead_letters = await channel.declare_queue(f"{queue}.dlq", passive=True)
            exchange = await channel.get_exchange(self._exchange_name)
            # Only what is there now: a message that fails again comes back (same message id) and must not loop;
            # taken again, it stays unacknowledged and goes back when the channel closes.
            seen: set[str] = set()
            async for message in _waiting(dead_letters, limit):
                if message.message_id is not None:
                    if message.message_id in seen:
                        break
                    seen.add(message.message_id)
                await _publish_again(exchange, message)
                replayed += 1
        finally:
            await channel.close()
        return replayed

    async def replay_dead_letter(self, queue: str, message_id: str) -> bool:
        """Publish one dead-lettered message (by message id) again under its original routing key; the others
        stay in `<queue>.dlq`. False when it is not there (replayed or purged already)."""
        connection = self._consuming_connection()
        channel = await connection.channel(publisher_confirms=True)
        try:
            try:
                dead_letters = await channel.declare_queue(f"{queue}.dlq", passive=True)
            except aio_pika.exceptions.ChannelNotFoundEntity:
                return False  # no such queue (any more): nothing to replay
            exchange = await channel.get_exchange(self._exchange_name)
            async for message in _waiting(dead_letters, MAX_DEAD_LETTERS_SEARCHED):
                if message.message_id != message_id:
                    continue  # unacknowledged: back in the queue when the channel closes
                await _publish_again(exchange, message)
                return True
            return False
        finally:
            if not channel.is_closed:
                await channel.close()


async def _waiting(dead_letters: Any, limit: int) -> AsyncIterator[AbstractIncomingMessage]:
    """The messages of a queue, first to last, taken unacknowledged (each comes once per channel) until it has
    no more or `limit` were taken. Not bounded by the queue's message count: a quorum queue's count lags the
    messages a closed channel just gave back (a look at the dead letters, then a replay: the count said 0
    while the message was there to take)."""
    for _ in range(limit):
        message = await dead_letters.get(no_ack=False, fail=False)
        if message is None:
            return
        yield message


async def _publish_again(exchange: AbstractExchange, message: AbstractIncomingMessage) -> None:
    """A dead letter back under its original routing key (confirmed), then taken off the dead-letter queue."""
    await exchange.publish(
        aio_pika.Message(
            message.body,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            headers={"x-replayed": True, **_trace_header(message)},
        ),
        routing_key=DeadLetter.of(message).routing_key,
        timeout=10,
    )
    await message.ack()


def _trace_header(message: AbstractIncomingMessage) -> dict[str, Any]:
    """A replayed message stays in the trace of the order it belongs to, and goes to its supplier's partition."""
    headers = message.headers or {}
    return {name: headers[name] for name in (TRACEPARENT, PARTITION_KEY) if headers.get(name)}


def _dead_letter_notice(queue: str, message: AbstractIncomingMessage, error: str, reason: str) -> Envelope:
    notice = DeadLetterRecorded(
        queue=queue,
        routing_key=message.routing_key or "",
        message_id=message.message_id,
        reason=reason,
        error=error[:2000],
        body=message.body[:NOTICE_BODY_BYTES].decode(errors="replace").replace("\x00", "\ufffd"),
        dead_lettered_at=utcnow(),
    )
    return Envelope.wrap(notice, message.correlation_id or "-")


@dataclass(frozen=True)
class DeadLetter:
    """A message in a dead-letter queue, as the dashboard shows it."""

    message_id: str | None
    routing_key: str
    error: str
    body: str

    @classmethod
    def of(cls, message: AbstractIncomingMessage) -> DeadLetter:
        headers = message.headers or {}
        routing_key = str(headers.get("x-original-routing-key") or "")
        error = str(headers.get("x-error") or "")
        deaths = headers.get("x-death")
        if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
            # Dead-lettered by the broker (delivery limit reached): it records why and from where.
            death = deaths[0]
            keys = death.get("routing-keys")
            if not routing_key and isinstance(keys, list) and keys:
                routing_key = _text(keys[0])
            error = error or f"{_text(death.get('reason'))} after {_text(death.get('count'))} time(s)"
        return cls(message.message_id, routing_key, error, message.body.decode(errors="replace")[:4000])


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
