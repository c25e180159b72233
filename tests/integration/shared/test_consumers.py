"""The consumers registered on aiormq's channel under aio-pika's robust one (`dropship_shared.consumers`), against the
real RabbitMQ: they come back when the broker closes their channel, and when it cancels them (their queue deleted)."""

from __future__ import annotations

import uuid

import aio_pika
import aiormq

from dropship_shared.events import BackorderCancelled, Envelope
from dropship_shared.messaging import Broker, Subscription
from support.infrastructure import BrokerNamespace
from support.polling import eventually


def cancelled(line: str) -> Envelope:
    return Envelope.wrap(BackorderCancelled(backorder_line_id=line, supplier_id="acme"), str(uuid.uuid4()))


async def subscribed(broker: Broker, queue: str) -> list[str]:
    seen: list[str] = []

    async def handle(envelope: Envelope) -> None:
        seen.append(envelope.payload_as(BackorderCancelled).backorder_line_id)

    await broker.subscribe(Subscription(queue, {"backorder.cancelled": handle}))
    return seen


async def published_until_handled(broker: Broker, seen: list[str], line: str) -> None:
    """Publish `line` again until it was handled: while the queue is being declared again a message routed
    nowhere is dropped."""

    async def handled() -> bool:
        if line not in seen:
            await broker.publish(cancelled(line))
        return line in seen

    await eventually(handled, lambda done: done, timeout=20)


async def test_consumers_come_back_after_the_broker_closed_their_channel(
    broker: Broker, broker_namespace: BrokerNamespace
) -> None:
    seen = await subscribed(broker, broker_namespace.queue("closed"))
    await broker.publish(cancelled("L1"))
    await eventually(lambda: list(seen), lambda lines: lines == ["L1"])
    [channel] = broker._consumer_channels
    underlay = await channel.get_underlay_channel()
    await underlay.basic_ack(987_654)  # no such delivery: the broker closes the channel (PRECONDITION_FAILED)
    await eventually(lambda: underlay.is_closed, lambda closed: closed)

    await published_until_handled(broker, seen, "L2")
    assert seen[0] == "L1" and set(seen) == {"L1", "L2"}


async def test_consumers_come_back_after_the_broker_cancelled_them(
    broker: Broker, broker_namespace: BrokerNamespace
) -> None:
    queue = broker_namespace.queue("cancelled")
    seen = await subscribed(broker, queue)
    connection = await aio_pika.connect(broker_namespace.amqp_url)
    try:
        channel = await connection.channel()
        await channel.queue_delete(queue)  # the broker cancels its consumers
    finally:
        await connection.close()

    await published_until_handled(broker, seen, "L1")
    [channel] = broker._consumer_channels
    underlay = await channel.get_underlay_channel()
    assert isinstance(underlay, aiormq.Channel) and len(underlay.consumers) == 1
