"""Publishing a batch in one write (the outbox relay's way): every message confirmed, sent as aio-pika sends one,
and the channel's numbering of publishes still in step with the broker's after confirms that came too late."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest
from prometheus_client import REGISTRY

from dropship_shared.confirmed_publish import NotConfirmed, Outgoing
from dropship_shared.messaging import Broker
from support.infrastructure import BrokerNamespace


async def received(broker_namespace: BrokerNamespace, queue_name: str, count: int) -> list[aio_pika.IncomingMessage]:
    connection = await aio_pika.connect(broker_namespace.amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name)
        messages: list[aio_pika.IncomingMessage] = []
        async with queue.iterator() as incoming:
            async for message in incoming:
                await message.ack()
                messages.append(message)  # type: ignore[arg-type]
                if len(messages) == count:
                    break
        return messages
    finally:
        await connection.close()


async def bound_queue(broker_namespace: BrokerNamespace, name: str) -> str:
    queue_name = broker_namespace.queue(name)
    connection = await aio_pika.connect(broker_namespace.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(broker_namespace.exchange)
        queue = await channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})
        await queue.bind(exchange, routing_key="backorder.#")
    finally:
        await connection.close()
    return queue_name


def published_count(event_type: str) -> float:
    return REGISTRY.get_sample_value("events_published_total", {"event_type": event_type}) or 0.0


def outgoing(n: int) -> Outgoing:
    return Outgoing(
        "backorder.created",
        f'{{"n": {n}}}'.encode(),
        f"event-{n}",
        f"order-{n}",
        traceparent=f"00-{n:032x}-{n + 1:016x}-01",
        partition_key="acme" if n % 2 else None,
    )


async def test_a_batch_is_confirmed_message_by_message_and_arrives_as_one_publish_would(
    broker: Broker, broker_namespace: BrokerNamespace
) -> None:
    queue_name = await bound_queue(broker_namespace, "batch")
    batch = [outgoing(n) for n in range(50)]
    counted_before = published_count("backorder.created")

    assert await broker.publish_many(batch) == [None] * 50
    assert published_count("backorder.created") == counted_before + 50
    await broker.publish_raw("backorder.created", b'{"n": 50}', "event-50", "order-50", "00-tp-50", "acme")

    messages = await received(broker_namespace, queue_name, 51)
    assert [message.body for message in messages] == [f'{{"n": {n}}}'.encode() for n in range(51)]
    for n, message in enumerate(messages[:50]):
        assert message.message_id == f"event-{n}"
        assert message.correlation_id == f"order-{n}"
        assert message.type == "backorder.created"
        assert message.content_type == "application/json"
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        expected = {"traceparent": f"00-{n:032x}-{n + 1:016x}-01"} | ({"partition-key": "acme"} if n % 2 else {})
        assert message.headers == expected
    assert messages[50].headers == {"traceparent": "00-tp-50", "partition-key": "acme"}


async def test_confirms_that_come_too_late_leave_the_next_batch_confirmed_correctly(
    broker: Broker, broker_namespace: BrokerNamespace
) -> None:
    queue_name = await bound_queue(broker_namespace, "late")
    counted_before = published_count("backorder.created")

    late = await broker.publish_many([outgoing(n) for n in range(5)], confirm_within=0)
    assert all(isinstance(outcome, NotConfirmed) for outcome in late)  # not waited for: the relay publishes again
    assert published_count("backorder.created") == counted_before  # only confirmed events count
    await asyncio.sleep(0.2)  # the late confirms arrive meanwhile, and are ignored
    assert await broker.publish_many([outgoing(n) for n in range(5, 8)]) == [None] * 3

    messages = await received(broker_namespace, queue_name, 8)
    assert [message.message_id for message in messages] == [f"event-{n}" for n in range(8)]


async def test_a_publish_the_connection_cannot_write_is_given_up_and_leaves_the_channel_in_step(
    broker: Broker, broker_namespace: BrokerNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue_name = await bound_queue(broker_namespace, "blocked")
    assert broker._publish_channel is not None
    channel = await broker._publish_channel.get_underlay_channel()
    put = channel.write_queue.put

    async def held_back(frame: object) -> None:  # as when the broker blocks publishers (a resource alarm)
        await asyncio.Event().wait()

    monkeypatch.setattr(channel.write_queue, "put", held_back)
    blocked = await broker.publish_many([outgoing(n) for n in range(3)], confirm_within=0.2)
    assert all(isinstance(outcome, NotConfirmed) for outcome in blocked)
    monkeypatch.setattr(channel.write_queue, "put", put)
    assert await broker.publish_many([outgoing(n) for n in range(3, 5)]) == [None] * 2

    messages = await received(broker_namespace, queue_name, 2)
    assert [message.message_id for message in messages] == ["event-3", "event-4"]
