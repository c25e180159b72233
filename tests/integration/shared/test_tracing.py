"""Tracing through the messaging plumbing, with an in-memory exporter: the trace context of the span that emits
an event waits in the outbox, travels in the message's `traceparent` header and is continued by the consumer;
a group-commit transaction continues its first item's trace and links the others', while each item's events
carry the item's own trace; log lines carry the ids."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aio_pika
import pytest
from integration.shared.test_messaging import backorder
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dropship_shared.batching import GroupCommit
from dropship_shared.db import create_engine, session_factory
from dropship_shared.events import Envelope
from dropship_shared.messaging import Broker, Subscription
from dropship_shared.outbox import OutboxRelay
from dropship_shared.tables import inbox_table, outbox_table
from dropship_shared.tracing import current_traceparent, gathering, trace_ids
from dropship_shared.unit_of_work import SqlUnitOfWork
from support.infrastructure import BrokerNamespace
from support.polling import eventually
from support.tracing import traced

metadata = MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with traced() as exporter:
        yield exporter


@pytest.fixture
async def plumbing(
    spans: InMemorySpanExporter, broker_namespace: BrokerNamespace, tmp_path: Path
) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], Broker]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'traced.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    broker = Broker(broker_namespace.amqp_url, broker_namespace.exchange)
    await broker.connect()
    yield session_factory(engine), broker
    await broker.close()
    await engine.dispose()


def named(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in spans.get_finished_spans() if span.name == name]


async def test_the_consumer_continues_the_trace_of_the_span_that_emitted_the_event(
    plumbing: tuple[async_sessionmaker[AsyncSession], Broker],
    broker_namespace: BrokerNamespace,
    spans: InMemorySpanExporter,
) -> None:
    sessions, broker = plumbing
    queue = broker_namespace.queue("traced")
    handled: list[tuple[Envelope, dict[str, object]]] = []

    async def handle(envelope: Envelope) -> None:
        handled.append((envelope, trace_ids(None, "info", {})))

    await broker.subscribe(Subscription(queue, {"backorder.created": handle}))
    ready = asyncio.Event()
    with trace.get_tracer("tests").start_as_current_span("POST /orders") as intake:
        async with SqlUnitOfWork(sessions, outbox, inbox, ready) as uow:
            uow.emit(backorder("L-1"))
            await uow.commit()
    # Published later, by the relay, outside the span: the context waited in the outbox row.
    await OutboxRelay(sessions, outbox, broker, ready).publish_pending()
    await eventually(lambda: len(handled), lambda count: count == 1)

    envelope, log_ids = handled[0]
    origin = intake.get_span_context()
    assert envelope.traceparent is not None
    assert envelope.traceparent.startswith(f"00-{origin.trace_id:032x}-{origin.span_id:016x}-")
    (consumed,) = await eventually(lambda: named(spans, "backorder.created process"), lambda found: len(found) == 1)
    assert consumed.kind == trace.SpanKind.CONSUMER
    assert consumed.parent is not None and consumed.parent.span_id == origin.span_id
    assert consumed.context.trace_id == origin.trace_id
    # The outbox row was written in the emitting span: its statement is a child span of it.
    statements = [span for span in spans.get_finished_spans() if span.attributes and "db.statement" in span.attributes]
    assert any(
        span.parent is not None
        and span.parent.span_id == origin.span_id
        and "INSERT INTO outbox" in str(span.attributes["db.statement"])
        for span in statements
    ), [(span.name, span.attributes) for span in statements]
    # A log line written while handling names the consumer's span, next to the correlation id.
    assert log_ids == {"trace_id": f"{origin.trace_id:032x}", "span_id": f"{consumed.context.span_id:016x}"}


async def test_the_relay_carries_the_trace_context_as_the_w3c_message_header(
    plumbing: tuple[async_sessionmaker[AsyncSession], Broker], broker_namespace: BrokerNamespace
) -> None:
    sessions, broker = plumbing
    queue_name = broker_namespace.queue("raw")
    connection = await aio_pika.connect(broker_namespace.amqp_url)
    try:
        channel = await connection.channel()
        queue = await broker.declare_queue(channel, queue_name, ["backorder.created"])
        ready = asyncio.Event()
        with trace.get_tracer("tests").start_as_current_span("emit"):
            expected = current_traceparent()
            async with SqlUnitOfWork(sessions, outbox, inbox, ready) as uow:
                uow.emit(backorder("L-2"))
                await uow.commit()
        await OutboxRelay(sessions, outbox, broker, ready).publish_pending()
        async with queue.iterator() as messages:
            message = await asyncio.wait_for(anext(messages), timeout=60)
            await message.ack()
        assert expected is not None
        assert message.headers["traceparent"] == expected
        assert json.loads(message.body)["traceparent"] == expected
    finally:
        await connection.close()


async def test_a_group_commit_continues_the_first_items_trace_and_links_the_others_whose_events_keep_their_own(
    plumbing: tuple[async_sessionmaker[AsyncSession], Broker], spans: InMemorySpanExporter
) -> None:
    sessions, _broker = plumbing

    async def handle_batch(requests: list[tuple[str, str]]) -> list[Envelope | Exception]:
        emitted: list[Envelope | Exception] = []
        async with SqlUnitOfWork(sessions, outbox, inbox) as uow:
            for line, correlation_id in requests:  # as the handlers do: one item at a time, in one transaction
                uow.correlation_id = correlation_id
                emitted.append(uow.emit(backorder(line)))
            await uow.commit()
        return emitted

    group: GroupCommit[tuple[str, str], Envelope] = GroupCommit(
        handle_batch, name="orders transaction", correlation_of=lambda request: request[1]
    )
    tracer = trace.get_tracer("tests")

    async def submit(line: str) -> tuple[trace.SpanContext, Envelope]:
        with tracer.start_as_current_span(f"POST /orders {line}") as request:
            return request.get_span_context(), await group.submit((line, f"correlation-{line}"))

    (first, first_event), (second, second_event) = await asyncio.gather(submit("A"), submit("B"))
    (batch,) = named(spans, "orders transaction")
    assert batch.parent is not None and batch.parent.span_id == first.span_id
    assert batch.context.trace_id == first.trace_id
    assert [link.context.span_id for link in batch.links] == [second.span_id]
    # Each order's event continues its own request's trace, not the batch's.
    assert first_event.traceparent is not None and second_event.traceparent is not None
    assert first_event.traceparent.startswith(f"00-{first.trace_id:032x}-{first.span_id:016x}-")
    assert second_event.traceparent.startswith(f"00-{second.trace_id:032x}-{second.span_id:016x}-")


def test_a_gathering_span_links_one_span_per_trace_and_puts_what_one_span_cannot_hold_on_children(
    spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SPAN_LINK_COUNT_LIMIT", "2")  # the SDK's limit (128 by default), here 2
    tracer = trace.get_tracer("tests")
    arrivals = []
    for order in range(5):
        with tracer.start_as_current_span(f"order {order}"):
            arrivals += [current_traceparent(), current_traceparent()]  # two lines of one order: one link
    with gathering("release", None, [*arrivals, None, "not a traceparent"], supplier_id="acme"):
        inside = current_traceparent()

    (release,) = named(spans, "release")
    more = named(spans, "release (more links)")
    assert release.parent is None and len(release.links) == 2 and len(more) == 2
    assert all(span.parent is not None and span.parent.span_id == release.context.span_id for span in more)
    linked = [link.context for span in (release, *more) for link in span.links]
    assert [f"00-{context.trace_id:032x}-{context.span_id:016x}" for context in linked] == [
        str(traceparent)[:-3] for traceparent in arrivals[::2]
    ]
    assert inside is not None and inside.split("-")[2] == f"{release.context.span_id:016x}"


def test_tracing_is_off_by_default() -> None:
    assert current_traceparent() is None
    assert trace_ids(None, "info", {}) == {}
