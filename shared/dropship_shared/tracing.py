"""Tracing: OpenTelemetry spans, exported over OTLP when configured, and the W3C trace context carried in the
event envelope and the message headers, so that one customer order is one trace across the services.

Off by default: with no OTLP endpoint configured no provider is installed, nothing is instrumented and the
hot paths (emitting, publishing, consuming events, logging) skip tracing after one flag test."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
_STORED_TRACEPARENT = re.compile(r'"traceparent":"([0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2})"')
_PROPAGATOR = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("dropship")  # a proxy: spans go to the provider installed later
_enabled = False
_provider: TracerProvider | None = None
_processors: list[SpanProcessor] = []
# Inside a group-commit transaction: each item's correlation id → the traceparent of its own span.
_transaction_items: ContextVar[Mapping[str, str] | None] = ContextVar("transaction_items", default=None)


def tracing_enabled() -> bool:
    return _enabled


def native_fastapi_telemetry() -> TelemetryConfig | None:
    """FastAPI's own OpenTelemetry for an app created now: FastAPI's defaults when tracing is on; off when it is
    off, so that FastAPI does not look the global tracer, meter and logger providers up on every request to find
    them unconfigured (this process installs none but the tracer's)."""
    return None if _enabled else {"tracing": False, "metrics": False, "logs": False}


def configure_tracing(service_name: str, otlp_endpoint: str) -> None:
    """Export this process's spans over OTLP/HTTP when an endpoint is configured (the exporter reads the other
    standard `OTEL_EXPORTER_OTLP_*` variables itself); otherwise leave tracing off."""
    if not otlp_endpoint or _enabled:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    enable_tracing(service_name, BatchSpanProcessor(OTLPSpanExporter()))


def enable_tracing(service_name: str, processor: SpanProcessor) -> None:
    """Send this process's spans to `processor` and instrument httpx clients and SQLAlchemy engines created from
    now on. The first call names the process's tracer provider; tests pass an in-memory exporter's processor."""
    global _enabled, _provider
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        trace.set_tracer_provider(_provider)
    if processor not in _processors:
        _provider.add_span_processor(processor)
        _processors.append(processor)
    HTTPXClientInstrumentor().instrument()
    # Its declared range stops below SQLAlchemy 2.1, whose engine events it uses are unchanged (a test checks
    # the statements' spans).
    SQLAlchemyInstrumentor().instrument(skip_dep_check=True)
    _enabled = True


def disable_tracing() -> None:
    """Back to off (tests): no more spans, headers or instrumented clients and engines."""
    global _enabled
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    HTTPXClientInstrumentor().uninstrument()
    SQLAlchemyInstrumentor().uninstrument()
    _enabled = False


def instrument_app(app: FastAPI) -> None:
    """A server span per HTTP request, continuing the caller's `traceparent` header."""
    if not _enabled:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics", exclude_spans=["receive", "send"])


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, to travel with an event; None when tracing is off."""
    if not _enabled:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


def traceparent_of(correlation_id: str) -> str | None:
    """The `traceparent` an event emitted on behalf of `correlation_id` carries: inside a group-commit
    transaction, that of the item (request, delivery) with this correlation id, so each order's events stay in
    its own trace; elsewhere the current span's."""
    if not _enabled:
        return None
    items = _transaction_items.get()
    own = items.get(correlation_id) if items is not None else None
    return own or current_traceparent()


def traceparent_in(envelope_json: str) -> str | None:
    """The `traceparent` of an envelope stored whole (an outbox row), found without parsing the JSON: the
    envelope's own field comes before its payload, and a quote inside a payload's text is escaped."""
    if not _enabled:
        return None
    found = _STORED_TRACEPARENT.search(envelope_json)
    return found.group(1) if found else None


def _remote_context(traceparent: object) -> Context | None:
    if not isinstance(traceparent, str):
        return None
    return _PROPAGATOR.extract({TRACEPARENT: traceparent})


@contextmanager
def consuming(queue: str, event_type: str, headers: Mapping[str, Any] | None) -> Iterator[None]:
    """A consumer span around one handled event, a child of the span that emitted it (its `traceparent`
    message header), so the event's effects join the trace of the order that caused them."""
    if not _enabled:
        yield
        return
    attributes = {"messaging.system": "rabbitmq", "messaging.destination.name": queue}
    with continuing(f"{event_type} process", (headers or {}).get(TRACEPARENT), SpanKind.CONSUMER, **attributes):
        yield


@contextmanager
def continuing(
    name: str, traceparent: object, kind: SpanKind = SpanKind.INTERNAL, **attributes: str | int
) -> Iterator[None]:
    """A span continuing a trace context that was stored (`current_traceparent`) for work done later, in
    another task: a leased purchase order sent by a dispatcher, a queued callback. A new trace without one."""
    if not _enabled:
        yield
        return
    with _tracer.start_as_current_span(name, context=_remote_context(traceparent), kind=kind, attributes=attributes):
        yield


def current_span_context() -> SpanContext | None:
    if not _enabled:
        return None
    context = trace.get_current_span().get_span_context()
    return context if context.is_valid else None


@contextmanager
def transaction_of(name: str, causes: Sequence[tuple[str, SpanContext | None]]) -> Iterator[None]:
    """A span around one transaction that handles several items together (group commit), given each item's
    correlation id and span: a child of the first item's span, linking the others'. The events emitted for an
    item (`traceparent_of` its correlation id) carry that item's own span, so each order keeps its own trace."""
    found = [(correlation_id, cause) for correlation_id, cause in causes if cause is not None]
    if not _enabled or not found:
        yield
        return
    parent = trace.set_span_in_context(NonRecordingSpan(found[0][1]))
    links = [Link(cause) for _, cause in found[1:]]
    items = _transaction_items.set({correlation_id: _traceparent(cause) for correlation_id, cause in reversed(found)})
    try:
        with _tracer.start_as_current_span(name, context=parent, links=links, attributes={"batch.size": len(causes)}):
            yield
    finally:
        _transaction_items.reset(items)


@contextmanager
def gathering(
    name: str, parent: str | None, gathered: Iterable[str | None], **attributes: str | int | Sequence[str]
) -> Iterator[None]:
    """A span for work that gathers items which arrived earlier, each in its own trace (a purchase order releasing
    waiting lines): a child of `parent` (a stored `traceparent`; the current span without one, a new trace outside
    any), linking the stored context of each other trace among `gathered` (one link per trace), so every one of
    those traces leads to this span. Events emitted inside carry this span, not the group-commit item's."""
    if not _enabled:
        yield
        return
    links: dict[int, Link] = {}
    for traceparent in gathered:
        context = _span_context_of(traceparent)
        if context is not None and context.trace_id not in links:
            links[context.trace_id] = Link(context)
    remote = _remote_context(parent)
    own_trace = trace.get_current_span(remote).get_span_context().trace_id
    linked = [link for trace_id, link in links.items() if trace_id != own_trace]
    most = SpanLimits().max_links or len(linked) or 1  # the SDK keeps this many links per span, dropping the rest
    items = _transaction_items.set(None)
    try:
        with _tracer.start_as_current_span(name, context=remote, links=linked[:most], attributes=attributes):
            for start in range(most, len(linked), most):  # more traces than one span may link: the rest on children
                with _tracer.start_as_current_span(f"{name} (more links)", links=linked[start : start + most]):
                    pass
            yield
    finally:
        _transaction_items.reset(items)


def _span_context_of(traceparent: str | None) -> SpanContext | None:
    if traceparent is None:
        return None
    context = trace.get_current_span(_PROPAGATOR.extract({TRACEPARENT: traceparent})).get_span_context()
    return context if context.is_valid else None


def _traceparent(context: SpanContext) -> str:
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def trace_ids(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the current trace and span ids next to the correlation id."""
    if _enabled:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            event["trace_id"] = format(context.trace_id, "032x")
            event["span_id"] = format(context.span_id, "016x")
    return event
