"""Tracing of the aggregator's releases, with an in-memory exporter, on SQLite and PostgreSQL: a PO released by
the scheduler at a batch's deadline is a span of a trace of its own that links the trace each of its lines
arrived in (stored with the line, so it holds across a restart), and the PO event carries that span."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
from integration.aggregator.test_aggregator_handlers import Harness, backorder, configure, harness
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

from aggregator.adapters.orm import outbox
from dropship_shared.batching import EventBatcher
from dropship_shared.events import Envelope
from support.tracing import traced

__all__ = ["harness"]  # the fixture, shared with the handlers' tests


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with traced() as exporter:
        yield exporter


def named(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in spans.get_finished_spans() if span.name == name]


async def requested_traceparents(h: Harness) -> list[str | None]:
    async with h.uow() as uow:
        bodies = await uow.session.scalars(
            select(outbox.c.body).where(outbox.c.event_type == "purchase_order.requested").order_by(outbox.c.id)
        )
        return [Envelope.model_validate_json(body).traceparent for body in bodies]


async def test_a_deadline_release_links_the_trace_of_every_line_it_releases(
    harness: Harness, spans: InMemorySpanExporter
) -> None:
    await configure(harness, min_units=100, max_wait_seconds=3600)
    tracer = trace.get_tracer("tests")
    batcher = EventBatcher(harness.on_backorder_events)

    async def arrive(order: str, lines: int) -> int:
        """An order's backorders delivered, each in the consumer's span of the order's trace, as in the service."""
        with tracer.start_as_current_span(f"POST /orders {order}") as intake:
            for line in range(1, lines + 1):
                envelope = backorder(f"{order}-{line}").model_copy(update={"correlation_id": order})
                with tracer.start_as_current_span("backorder.created process"):
                    await batcher.handle(envelope)
        return intake.get_span_context().trace_id

    # Three orders arriving together (one group-commit transaction), and a fourth with two lines later.
    orders = list(await asyncio.gather(arrive("O1", 1), arrive("O2", 1), arrive("O3", 1)))
    orders.append(await arrive("O4", 2))
    assert await requested_traceparents(harness) == []  # below the minimum: nothing released yet

    harness.restart()  # the lines' trace contexts come from the database, not from the process's memory
    harness.clock.now += timedelta(seconds=3601)
    assert await harness.review_due_batches() == 1

    (release,) = named(spans, "release purchase orders")
    linked = [link.context.trace_id for link in release.links]
    assert sorted(linked) == sorted(orders), "one link to each order's trace, once"
    assert all(trace_id != release.context.trace_id for trace_id in linked)
    assert release.attributes is not None and release.attributes["release_reason"] == "deadline"
    (po_number,) = release.attributes["po_numbers"]  # type: ignore[misc]
    assert po_number.startswith("PO")
    (review,) = named(spans, "review batch")
    assert release.parent is not None and release.parent.span_id == review.context.span_id
    assert review.parent is None, "the scheduler's review starts a trace of its own"
    # The PO event goes on in the release's trace, so the gateway's spans follow from it.
    (traceparent,) = await requested_traceparents(harness)
    assert traceparent is not None
    assert traceparent.startswith(f"00-{release.context.trace_id:032x}-{release.context.span_id:016x}-")


async def test_a_release_on_arrival_stays_in_the_arriving_orders_trace_and_links_the_others(
    harness: Harness, spans: InMemorySpanExporter
) -> None:
    await configure(harness, min_units=2)
    tracer = trace.get_tracer("tests")
    with tracer.start_as_current_span("POST /orders O1") as first:
        await harness.on_backorder_events([backorder("O1-1")])
    with tracer.start_as_current_span("POST /orders O2") as second:
        await harness.on_backorder_events([backorder("O2-1")])

    (release,) = named(spans, "release purchase orders")
    assert release.parent is not None and release.parent.span_id == second.get_span_context().span_id
    assert [link.context.trace_id for link in release.links] == [first.get_span_context().trace_id]
    (traceparent,) = await requested_traceparents(harness)
    assert traceparent is not None and traceparent.split("-")[2] == f"{release.context.span_id:016x}"
