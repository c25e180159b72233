"""Tracing on for one test, into an in-memory exporter (the process's tracer provider is set once)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dropship_shared.tracing import disable_tracing, enable_tracing

EXPORTER = InMemorySpanExporter()
PROCESSOR = SimpleSpanProcessor(EXPORTER)


@contextmanager
def traced() -> Iterator[InMemorySpanExporter]:
    """Spans recorded from here on (and httpx, SQLAlchemy instrumented), off again afterwards."""
    enable_tracing("tests", PROCESSOR)
    EXPORTER.clear()
    try:
        yield EXPORTER
    finally:
        disable_tracing()
        EXPORTER.clear()
