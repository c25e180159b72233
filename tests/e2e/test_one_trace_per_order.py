"""One customer order is one trace across the services: the services run as real processes exporting over
OTLP/HTTP (the standard `OTEL_EXPORTER_OTLP_ENDPOINT`) to a collector double in this test, which keeps the
spans in memory; the trace is followed from `POST /orders` to the sending of the customer's shipment message."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanMessage

from devstack import SERVICES
from e2e.conftest import SystemFactory, supply_from_the_simulator
from support.polling import eventually
from support.tokens import bearer

SHIP_TO = {
    "name": "Ann Lee",
    "address_lines": ["1 Main St"],
    "city": "Springfield",
    "region": "IL",
    "postal_code": "62701",
    "country": "US",
}


@dataclass(frozen=True)
class ExportedSpan:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, str]


class Collector:
    """The OTLP/HTTP trace endpoint of a collector, keeping what it receives."""

    def __init__(self) -> None:
        self.spans: list[ExportedSpan] = []
        self._lock = threading.Lock()
        collector = self

        class Receive(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = ExportTraceServiceRequest()
                request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
                collector.keep(request)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Receive)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def keep(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                with self._lock:
                    self.spans += [self._of(resource["service.name"], span) for span in scope_spans.spans]

    @staticmethod
    def _of(service: str, span: SpanMessage) -> ExportedSpan:
        attributes = {a.key: a.value.string_value or str(a.value.int_value) for a in span.attributes}
        return ExportedSpan(
            service,
            span.name,
            span.kind,
            span.trace_id.hex(),
            span.span_id.hex(),
            span.parent_span_id.hex(),
            attributes,
        )

    def trace(self, trace_id: str) -> list[ExportedSpan]:
        with self._lock:
            return [span for span in self.spans if span.trace_id == trace_id]

    def close(self) -> None:
        self._server.shutdown()


@pytest.fixture
def collector() -> Iterator[Collector]:
    running = Collector()
    yield running
    running.close()


def roots(spans: list[ExportedSpan]) -> list[str]:
    """The spans whose parent is not in the trace: in one tree, the order's request alone."""
    ids = {span.span_id for span in spans}
    return [span.name for span in spans if span.parent_id not in ids]


def has(service: str, name: str) -> object:
    return lambda spans: any(span.service == service and span.name.startswith(name) for span in spans)


async def test_one_order_is_one_trace_from_the_order_to_the_customer_message(
    make_system: SystemFactory, collector: Collector
) -> None:
    exporting = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    system = make_system(extra_env={name: exporting for name in SERVICES})
    system.start()
    supply_from_the_simulator(system, {"min_units": 1, "max_wait_seconds": 3600}, ["LAMP"])

    with httpx.Client(base_url=system.url("orders"), timeout=30, headers=bearer()) as orders:
        order = orders.post(
            "/orders",
            json={"customer_email": "ann@example.com", "ship_to": SHIP_TO, "lines": [{"sku": "LAMP", "quantity": 1}]},
        )
        assert order.status_code == 201, order.text
        order_id = order.json()["order_id"]
        await eventually(
            lambda: orders.get(f"/orders/{order_id}").json()["lines"][0]["status"],
            lambda status: status in {"shipped", "delivered"},
        )

    (intake,) = await eventually(
        lambda: [s for s in collector.spans if s.service == "orders" and s.name == "POST /orders"],
        lambda found: len(found) == 1,
    )
    # The order's whole path, each step in the one trace: the intake, the aggregator's release, the gateway's
    # call to the supplier, the supplier's shipment callback, and the customer's message written on it and sent.
    spans = await eventually(
        lambda: collector.trace(intake.trace_id),
        lambda spans: (
            all(
                check(spans)  # type: ignore[operator]
                for check in (
                    has("aggregator", "backorder.created process"),
                    has("supplier-gateway", "purchase_order.requested process"),
                    has("supplier-gateway", "place purchase order"),
                    has("supplier-simulator-acme", "POST /purchase-orders"),
                    has("supplier-simulator-acme", "callback "),
                    has("supplier-gateway", "POST /suppliers/{supplier_id}/callbacks"),
                    has("orders", "shipment.updated process"),
                    has("orders", "send customer message shipped"),
                )
            )
            and any("INSERT INTO notifications" in s.attributes.get("db.statement", "") for s in spans)
            # One tree: every span's parent exported too (a span ends after its children), one root.
            and roots(spans) == ["POST /orders"]
        ),
    )
    by_id = {span.span_id: span for span in spans}

    def one(service: str, name: str) -> ExportedSpan:
        (found,) = [span for span in spans if span.service == service and span.name == name]
        return found

    def ancestors(span: ExportedSpan) -> list[str]:
        chain = []
        while span.parent_id in by_id:
            span = by_id[span.parent_id]
            chain.append(f"{span.service}: {span.name}")
        return chain

    # The gateway's PO comes from the aggregator's release, and is sent (later, by the dispatcher) in its trace.
    requested = one("supplier-gateway", "purchase_order.requested process")
    assert by_id[requested.parent_id].service == "aggregator"
    placed = one("supplier-gateway", "place purchase order")
    assert placed.parent_id == requested.span_id and placed.attributes["po_number"]
    assert "supplier-gateway: place purchase order" in ancestors(
        one("supplier-simulator-acme", "POST /purchase-orders")
    )
    shipped = one("orders", "shipment.updated process")
    assert ancestors(shipped)[-1] == "orders: POST /orders"
    # The customer's message is sent later, by the delivery loop, in the trace of the event that wrote it.
    sends = [span for span in spans if span.name == "send customer message shipped"]  # a retry is one more
    assert all("orders: shipment.updated process" in ancestors(send) for send in sends)
