"""Outbox, relay, publisher confirms, consumer, inbox and dead-lettering against the real RabbitMQ."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import aio_pika
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.exc import OperationalError

from dropship_shared.db import create_engine, session_factory
from dropship_shared.events import Address, BackorderCancelled, BackorderCreated, DeadLetterRecorded, Envelope
from dropship_shared.messaging import Broker, Subscription
from dropship_shared.outbox import OutboxRelay
from dropship_shared.tables import inbox_table, outbox_table
from dropship_shared.unit_of_work import SqlUnitOfWork
from support.infrastructure import BrokerNamespace
from support.polling import eventually, stays

metadata = MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
effects = Table("effects", metadata, Column("id", Integer, primary_key=True), Column("line", String(50)))


def backorder(line: str) -> BackorderCreated:
    return BackorderCreated(
        backorder_line_id=line,
        order_id="O-1",
        line_no=1,
        sku="SKU-1",
        supplier_id="acme",
        supplier_sku="A-1",
        quantity=2,
        unit_cost=Decimal("3.50"),
        ship_to=Address(name="Ann", address_lines=["1 Main St"], city="Springfield", postal_code="12345", country="US"),
        customer_ref="O-1/1",
        ordered_at=datetime.now(UTC),
    )


async def wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


@pytest.fixture
async def plumbing(database_url: str, broker_namespace: BrokerNamespace, tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    sessions = session_factory(engine)
    broker = Broker(broker_namespace.amqp_url, broker_namespace.exchange, delivery_limit=3)
    await broker.connect()
    ready = asyncio.Event()
    yield engine, sessions, broker, ready
    await broker.close()
    await engine.dispose()


async def test_outbox_to_consumer_exactly_once_in_effect(plumbing, broker_namespace: BrokerNamespace) -> None:  # type: ignore[no-untyped-def]
    _engine, sessions, broker, ready = plumbing
    queue = broker_namespace.queue("effects")

    async def apply(envelope: Envelope) -> None:
        async with SqlUnitOfWork(sessions, outbox, inbox) as uow:
            if not await uow.first_delivery("effects", envelope):
                return
            payload = envelope.payload_as(BackorderCreated)
            await uow.session.execute(insert(effects).values(line=payload.backorder_line_id))
            await uow.commit()

    await broker.subscribe(Subscription(queue, {"backorder.created": apply}))
    async with SqlUnitOfWork(sessions, outbox, inbox, ready) as uow:
        for n in range(20):
            uow.emit(backorder(f"L{n}"))
        await uow.commit()
    relay = OutboxRelay(sessions, outbox, broker, ready, batch_size=7)
    assert await relay.pending_count() == 20
    while await relay.publish_pending():
        pass
    assert await relay.pending_count() == 0

    # The relay crashed after publishing but before marking: the same rows go out again.
    async with sessions() as session, session.begin():
        await session.execute(outbox.update().values(published_at=None))
    while await relay.publish_pending():
        pass

    async def all_applied() -> bool:
        async with sessions() as session:
            return await session.scalar(select(func.count()).select_from(effects)) == 20

    await wait_for(all_applied)
    await asyncio.sleep(0.5)  # let the duplicate deliveries arrive too
    async with sessions() as session:
        lines = (await session.scalars(select(effects.c.line))).all()
        processed = await session.scalar(select(func.count()).select_from(inbox))
    assert sorted(lines) == sorted(f"L{n}" for n in range(20))
    assert processed == 20


async def test_malformed_message_is_dead_lettered_and_consumer_goes_on(  # type: ignore[no-untyped-def]
    plumbing, broker_namespace: BrokerNamespace
) -> None:
    _engine, _sessions, broker, _ready = plumbing
    queue = broker_namespace.queue("poison")
    seen: list[str] = []

    async def handle(envelope: Envelope) -> None:
        seen.append(envelope.payload_as(BackorderCancelled).backorder_line_id)

    notices: list[Envelope] = []

    async def noticed(envelope: Envelope) -> None:
        notices.append(envelope)

    await broker.subscribe(Subscription(broker_namespace.queue("alerts"), {"dead_letter.recorded": noticed}))
    await broker.subscribe(Subscription(queue, {"backorder.cancelled": handle}))
    await broker.publish_raw("backorder.cancelled", b"{not json", str(uuid.uuid4()), "c1")
    bad_payload = Envelope(type="backorder.cancelled", correlation_id="c2", payload={"backorder_line_id": 5})
    await broker.publish(bad_payload)
    await broker.publish(Envelope.wrap(BackorderCancelled(backorder_line_id="L9", supplier_id="acme"), "c3"))

    async def handled() -> bool:
        return seen == ["L9"]

    await wait_for(handled)
    connection = await aio_pika.connect(broker_namespace.amqp_url)
    channel = await connection.channel()
    dead = await channel.declare_queue(f"{queue}.dlq", passive=True)
    messages = []
    for _ in range(50):
        message = await dead.get(fail=False)
        if message is None:
            if len(messages) == 2:
                break
            await asyncio.sleep(0.1)
            continue
        messages.append(message)
        await message.ack()
    await connection.close()
    assert len(messages) == 2
    errors = sorted(str(m.headers["x-error"]) for m in messages)
    assert errors[0].startswith("invalid backorder.cancelled payload")
    assert errors[1].startswith("invalid envelope")

    # each dead letter is announced, whichever service dead-letters it (the gateway's inbox files them)
    async def both_noticed() -> bool:
        return len(notices) == 2

    await wait_for(both_noticed)
    recorded = sorted((n.payload_as(DeadLetterRecorded) for n in notices), key=lambda r: r.error)
    assert {(r.queue, r.routing_key, r.reason) for r in recorded} == {(queue, "backorder.cancelled", "malformed")}
    assert recorded[0].message_id == str(bad_payload.event_id) and recorded[1].body == "{not json"
    assert [n.correlation_id for n in sorted(notices, key=lambda n: n.payload["error"])] == ["c2", "c1"]


async def test_failing_handler_is_retried_then_dead_lettered(  # type: ignore[no-untyped-def]
    plumbing, broker_namespace: BrokerNamespace
) -> None:
    _engine, _sessions, broker, _ready = plumbing
    queue = broker_namespace.queue("flaky")
    attempts: list[str] = []

    async def always_fails(envelope: Envelope) -> None:
        attempts.append(str(envelope.event_id))
        raise RuntimeError("database is down")

    await broker.subscribe(Subscription(queue, {"backorder.cancelled": always_fails}))
    await broker.publish(Envelope.wrap(BackorderCancelled(backorder_line_id="L1", supplier_id="acme"), "c"))

    async def dead_lettered() -> bool:
        return await broker.queue_depth(f"{queue}.dlq") == 1

    await wait_for(dead_lettered, timeout=90)
    # delivery limit 3: the first delivery plus three redeliveries, then the DLQ.
    assert 3 <= len(attempts) <= 4
    # An alert: counted, and the dead letter says why.
    assert REGISTRY.get_sample_value("events_dead_lettered_total", {"queue": queue, "reason": "handler_failed"}) == 1
    # every delivery after the first came back from the broker flagged as redelivered
    assert REGISTRY.get_sample_value("events_redelivered_total", {"queue": queue}) == len(attempts) - 1
    (letter,) = await broker.dead_letters(queue)
    assert "database is down" in letter.error

    # one message replayed by its id, back under its routing key: it fails again and comes back
    assert await broker.replay_dead_letter(queue, "no-such-id") is False
    assert await broker.replay_dead_letter(queue, str(letter.message_id)) is True
    replayed_attempts = len(attempts)

    async def failed_again() -> bool:
        return len(attempts) > replayed_attempts and await broker.queue_depth(f"{queue}.dlq") == 1

    await wait_for(failed_again, timeout=90)


async def test_a_dead_letter_notice_that_cannot_be_handled_sends_no_notice_of_its_own(  # type: ignore[no-untyped-def]
    plumbing, broker_namespace: BrokerNamespace
) -> None:
    _engine, _sessions, broker, _ready = plumbing
    inbox_queue = broker_namespace.queue("inbox")
    seen: list[Envelope] = []

    async def observe(envelope: Envelope) -> None:
        seen.append(envelope)

    async def broken_inbox(envelope: Envelope) -> None:
        raise RuntimeError("inbox is broken")

    await broker.subscribe(Subscription(broker_namespace.queue("watcher"), {"dead_letter.recorded": observe}))
    await broker.subscribe(Subscription(inbox_queue, {"dead_letter.recorded": broken_inbox}))
    notice = DeadLetterRecorded(
        queue="elsewhere",
        routing_key="backorder.created",
        reason="malformed",
        error="invalid envelope",
        body="{",
        dead_lettered_at=datetime.now(UTC),
    )
    await broker.publish(Envelope.wrap(notice, "loop"))

    async def dead_lettered() -> bool:
        return await broker.queue_depth(f"{inbox_queue}.dlq") == 1

    await wait_for(dead_lettered)
    await eventually(lambda: len(seen), lambda count: count == 1)  # the notice itself...
    await stays(lambda: len(seen), lambda count: count == 1)  # ...and no notice of its dead-lettering


async def test_transient_database_conflicts_are_retried_without_using_up_deliveries(  # type: ignore[no-untyped-def]
    plumbing, broker_namespace: BrokerNamespace
) -> None:
    _engine, _sessions, broker, _ready = plumbing
    queue = broker_namespace.queue("conflicted")
    attempts: list[str] = []
    handled: list[str] = []

    async def conflicts_then_succeeds(envelope: Envelope) -> None:
        attempts.append(str(envelope.event_id))
        if len(attempts) <= 6:  # more conflicts in a row than the delivery limit (3) allows failures
            raise OperationalError("UPDATE orders", {}, sqlite3.OperationalError("database is locked"))
        handled.append(envelope.payload_as(BackorderCancelled).backorder_line_id)

    await broker.subscribe(Subscription(queue, {"backorder.cancelled": conflicts_then_succeeds}))
    await broker.publish(Envelope.wrap(BackorderCancelled(backorder_line_id="L1", supplier_id="acme"), "c"))

    async def done() -> bool:
        return handled == ["L1"]

    await wait_for(done, timeout=30)
    assert len(attempts) == 7
    assert await broker.queue_depth(f"{queue}.dlq") == 0
    assert REGISTRY.get_sample_value(
        "transient_database_retries_total", {"operation": "backorder.cancelled", "kind": "sqlite_busy"}
    )
