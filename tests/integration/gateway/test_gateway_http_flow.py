"""The gateway against the real RabbitMQ and the supplier simulator over real HTTP: a PO goes out exactly
once in effect whatever the supplier does, and signed callbacks come back as events, once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import aio_pika
import httpx
import pytest

from dropship_shared.events import (
    Address,
    DeadLetterRecorded,
    Envelope,
    PurchaseOrderCancelRequested,
    PurchaseOrderLine,
    PurchaseOrderRequested,
)
from dropship_shared.messaging import Broker
from dropship_shared.signing import sign
from supplier_gateway.bootstrap import create_app
from supplier_gateway.config import GatewaySettings
from supplier_simulator.app import create_app as create_simulator
from supplier_simulator.settings import SimulatorSettings
from support.infrastructure import BrokerNamespace
from support.servers import consuming, run_uvicorn_app
from support.tokens import bearer

SECRET = "acme-signing-secret-0123456789"
T = TypeVar("T")
ADDRESS = Address(name="Ann", address_lines=["1 Main St"], city="Springfield", postal_code="12345", country="US")


def fast_settings(database_url: str, namespace: BrokerNamespace, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "amqp_url": namespace.amqp_url,
        "exchange": namespace.exchange,
        "queue_prefix": f"{namespace.prefix}.",
        "log_json": False,
        "log_level": "WARNING",
        "outbox_poll_seconds": 0.05,
        "dispatch_interval_seconds": 0.1,
        "dispatch_retry_base_seconds": 0.2,
        "dispatch_retry_max_seconds": 1.0,
        "supplier_timeout_seconds": 2.0,
        "supplier_max_attempts": 5,
        "supplier_backoff_base_seconds": 0.02,
        "supplier_backoff_max_seconds": 0.1,
        "supplier_retry_after_cap_seconds": 0.5,
        "circuit_reset_seconds": 0.5,
        "cancellation_interval_seconds": 0.1,
        "polling_interval_seconds": 0.2,
    }
    values.update(overrides)
    return GatewaySettings(**values)


def purchase_order(po_number: str, *quantities: int, supplier_id: str = "acme") -> PurchaseOrderRequested:
    return PurchaseOrderRequested(
        po_number=po_number,
        supplier_id=supplier_id,
        currency="USD",
        release_reason="minimum_reached",
        lines=[
            PurchaseOrderLine(
                line_no=number,
                backorder_line_id=f"O{po_number}{number}-1",
                sku=f"SKU-{number}",
                supplier_sku=f"A-{number}",
                quantity=quantity,
                unit_cost=Decimal("2.50"),
                ship_to=ADDRESS,
                customer_ref=f"O{number}/1",
            )
            for number, quantity in enumerate(quantities, start=1)
        ],
    )


@dataclass
class Observer:
    """Every event the gateway publishes on the test's exchange."""

    events: list[Envelope] = field(default_factory=list)

    def of(self, event_type: str, po_number: str | None = None) -> list[Envelope]:
        return [
            e
            for e in self.events
            if e.type == event_type and (po_number is None or e.payload.get("po_number") == po_number)
        ]

    async def wait_for(self, event_type: str, po_number: str, count: int = 1, timeout: float = 15.0) -> list[Envelope]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.of(event_type, po_number)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"{count} {event_type} for {po_number} not seen; saw {[e.type for e in self.events]}")


@dataclass
class Harness:
    gateway: httpx.AsyncClient
    gateway_url: str
    supplier: httpx.AsyncClient
    supplier_url: str
    broker: Broker
    observer: Observer

    async def request(self, payload: PurchaseOrderRequested, envelope: Envelope | None = None) -> Envelope:
        envelope = envelope or Envelope.wrap(payload, f"test-{payload.po_number}")
        await self.broker.publish(envelope)
        return envelope

    async def supplier_order(self, po_number: str) -> dict[str, Any]:
        response = await self.supplier.get(f"/admin/purchase-orders/{po_number}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def placement_requests(self, po_number: str) -> list[dict[str, Any]]:
        log = (await self.supplier.get("/admin/requests")).json()["requests"]
        return [entry for entry in log if entry["idempotency_key"] == po_number]

    async def po(self, po_number: str) -> dict[str, Any]:
        response = await self.gateway.get(f"/purchase-orders/{po_number}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def po_when(
        self, po_number: str, condition: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """The PO once the gateway has it (a moment after its request was published) and `condition` holds."""
        answer = await eventually(
            lambda: self.gateway.get(f"/purchase-orders/{po_number}"),
            lambda answer: answer.status_code == 200 and condition(answer.json()),
            timeout,
        )
        body: dict[str, Any] = answer.json()
        return body

    async def wait_for_state(self, po_number: str, state: str, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            response = await self.gateway.get(f"/purchase-orders/{po_number}")
            if response.status_code == 200:
                last = response.json()
                if last["state"] == state:
                    return last
            await asyncio.sleep(0.05)
        raise AssertionError(f"{po_number} never reached {state}: {last.get('state')} {last.get('dispatch')}")

    async def signed_post(
        self, path: str, body: dict[str, Any], secret: str = SECRET, **header_overrides: str
    ) -> httpx.Response:
        raw = json.dumps(body).encode()
        headers = {**sign(secret, raw), "Content-Type": "application/json", **header_overrides}
        return await self.gateway.post(path, content=raw, headers=headers)


async def eventually(read: Callable[[], Awaitable[T]], condition: Callable[[T], bool], timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if condition(value) or time.monotonic() > deadline:
            assert condition(value), value
            return value
        await asyncio.sleep(0.05)


@pytest.fixture
async def observer(broker_namespace: BrokerNamespace) -> AsyncIterator[Observer]:
    seen = Observer()
    connection = await aio_pika.connect(broker_namespace.amqp_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(broker_namespace.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(broker_namespace.queue("observer"), auto_delete=True)
    await queue.bind(exchange, routing_key="purchase_order.*")
    await queue.bind(exchange, routing_key="shipment.*")
    await queue.bind(exchange, routing_key="supplier_exception.*")

    async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            seen.events.append(Envelope.model_validate_json(message.body))

    await queue.consume(collect)
    yield seen
    await connection.close()


@pytest.fixture
def gateway_settings(
    request: pytest.FixtureRequest, sqlite_url: str, broker_namespace: BrokerNamespace
) -> GatewaySettings:
    """Fast settings; a test marked `@pytest.mark.gateway(**settings)` changes some."""
    broker_namespace.queue("supplier-gateway")
    marker = request.node.get_closest_marker("gateway")
    return fast_settings(sqlite_url, broker_namespace, **(marker.kwargs if marker else {}))


def serve_gateway(settings: GatewaySettings) -> Any:
    return run_uvicorn_app(create_app(settings), startup_timeout=30)


def serve_simulator(gateway_url: str | None, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "secret": SECRET,
        "supplier_id": "acme",
        "callback_url": f"{gateway_url}/suppliers/{{supplier_id}}/callbacks" if gateway_url else None,
        "auto_ship_after_seconds": 0.3,
        "callback_backoff_seconds": 0.1,
        "callback_max_attempts": 8,
    }
    values.update(overrides)
    return run_uvicorn_app(create_simulator(SimulatorSettings(**values)))


async def wait_ready(client: httpx.AsyncClient, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if consuming(await client.get("/readyz")):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("gateway not ready")


async def register(client: httpx.AsyncClient, supplier_url: str, supplier_id: str = "acme", **extra: Any) -> None:
    body = {"protocol": "http", "base_url": supplier_url, "signing_secret": SECRET, **extra}
    response = await client.put(f"/suppliers/{supplier_id}", json=body)
    assert response.status_code == 200, response.text


@pytest.fixture
def harness_factory(
    gateway_settings: GatewaySettings, broker_namespace: BrokerNamespace, observer: Observer
) -> Iterator[Callable[..., Any]]:
    """Start the gateway, then the simulator calling back to it, and register the simulator as `acme`."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def start(**simulator_overrides: Any) -> AsyncIterator[Harness]:
        with serve_gateway(gateway_settings) as gateway_url:
            use_callbacks = simulator_overrides.pop("callbacks", True)
            with serve_simulator(gateway_url if use_callbacks else None, **simulator_overrides) as supplier_url:
                broker = Broker(broker_namespace.amqp_url, broker_namespace.exchange)
                await broker.connect()
                async with (
                    httpx.AsyncClient(base_url=gateway_url, timeout=10, headers=bearer()) as gateway,
                    httpx.AsyncClient(base_url=supplier_url, timeout=10) as supplier,
                ):
                    await wait_ready(gateway)
                    await register(gateway, supplier_url, polling=not use_callbacks)
                    try:
                        yield Harness(gateway, gateway_url, supplier, supplier_url, broker, observer)
                    finally:
                        await broker.close()

    yield start


async def test_a_requested_po_reaches_the_supplier_once_and_its_shipment_comes_back(harness_factory: Any) -> None:
    async with harness_factory() as h:
        envelope = await h.request(purchase_order("PO-100", 2, 1))
        await h.request(purchase_order("PO-100", 2, 1), envelope)  # a duplicate delivery changes nothing

        (placed,) = await h.observer.wait_for("purchase_order.placed", "PO-100")
        assert placed.payload["backorder_line_ids"] == ["OPO-1001-1", "OPO-1002-1"]
        assert placed.payload["supplier_order_id"].startswith("ACME-SO-")
        (acknowledged,) = await h.observer.wait_for("purchase_order.acknowledged", "PO-100")
        assert {line["status"] for line in acknowledged.payload["lines"]} == {"accepted"}
        (shipped,) = await h.observer.wait_for("shipment.updated", "PO-100")
        assert shipped.correlation_id == "test-PO-100"
        assert {(line["backorder_line_id"], line["quantity"]) for line in shipped.payload["lines"]} == {
            ("OPO-1001-1", 2),
            ("OPO-1002-1", 1),
        }
        assert shipped.payload["tracking_number"].startswith("1Z")

        po = await h.wait_for_state("PO-100", "shipped")
        assert [change["state"] for change in po["history"]] == ["requested", "sent", "acknowledged", "shipped"]
        assert [line["status"] for line in po["lines"]] == ["shipped", "shipped"]
        assert (await h.supplier_order("PO-100"))["receipts"] == 1
        assert len(await h.placement_requests("PO-100")) == 1
        listed = (await h.gateway.get("/purchase-orders", params={"state": "shipped"})).json()
        assert [p["po_number"] for p in listed] == ["PO-100"]


async def test_signed_callbacks_bad_signature_replay_bad_json_and_duplicates(harness_factory: Any) -> None:
    async with harness_factory(auto_ack=False, auto_ship_after_seconds=-1) as h:
        await h.request(purchase_order("PO-200", 3))
        await h.wait_for_state("PO-200", "sent")
        shipment = {
            "shipment_id": "SH-1",
            "po_number": "PO-200",
            "shipped_at": "2026-11-26T12:00:00Z",
            "carrier": {"scac": "UPSN", "name": "UPS"},
            "packages": [{"tracking_number": "1Z999", "lines": [{"line_no": 1, "qty": 1}]}],
        }
        path = "/suppliers/acme/callbacks"

        bad = await h.signed_post(path, shipment, secret="another-secret-entirely")
        assert bad.status_code == 401
        unsigned = await h.gateway.post(path, json=shipment)
        assert unsigned.status_code == 401
        stale = await h.signed_post(path, shipment, **{"X-Timestamp": str(int(time.time()) - 1000)})
        assert stale.status_code == 401
        assert (await h.po("PO-200"))["lines"][0]["shipped_qty"] == 0

        raw = b'{"shipment_id": "SH-1", '
        not_json = await h.gateway.post(path, content=raw, headers={**sign(SECRET, raw), "X-Event-Type": "shipment"})
        assert not_json.status_code == 422
        missing_field = await h.signed_post(path, {**shipment, "carrier": {}}, **{"X-Event-Type": "shipment"})
        assert missing_field.status_code == 422
        assert "carrier" in json.dumps(missing_field.json())
        unknown_po = await h.signed_post(path, {**shipment, "po_number": "PO-NOPE"})
        assert unknown_po.status_code == 404
        unknown_supplier = await h.signed_post("/suppliers/nobody/callbacks", shipment)
        assert unknown_supplier.status_code == 404
        too_many = await h.signed_post(
            path, {**shipment, "packages": [{"tracking_number": "1Z9", "lines": [{"line_no": 1, "qty": 9}]}]}
        )
        assert too_many.status_code == 422
        assert "3 of 3 ordered were still to ship" in too_many.json()["not_applied"][0]  # a problem member
        assert (await h.po("PO-200"))["lines"][0]["shipped_qty"] == 0
        filed = (await h.gateway.get("/exceptions", params={"po_number": "PO-200"})).json()
        assert sorted(e["kind"] for e in filed) == ["over_shipment"]
        assert '"qty": 9' in filed[0]["received"]
        unknown = (await h.gateway.get("/exceptions", params={"kind": "unknown_purchase_order"})).json()
        assert [e["po_number"] for e in unknown] == ["PO-NOPE"]

        headers = sign(SECRET, json.dumps(shipment).encode())
        first = await h.signed_post(path, shipment, **headers)
        assert first.status_code == 200 and first.json()["status"] == "applied"
        replay = await h.signed_post(path, shipment, **headers)
        assert replay.status_code == 401
        again = await h.signed_post(path, shipment)  # same shipment, new event id: applied once
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
        await h.observer.wait_for("shipment.updated", "PO-200")
        await asyncio.sleep(0.3)
        assert len(h.observer.of("shipment.updated", "PO-200")) == 1
        po = await h.po("PO-200")
        assert po["lines"][0]["shipped_qty"] == 1
        assert po["state"] == "partially_shipped"

        ack = {
            "po_number": "PO-200",
            "status": "partial",
            "lines": [{"line_no": 1, "status": "backordered", "qty": 2, "expected_ship_date": "2026-12-24"}],
        }
        late_ack = await h.signed_post("/suppliers/acme/callbacks/acknowledgement", ack)
        assert late_ack.status_code == 200
        (acknowledged,) = await h.observer.wait_for("purchase_order.acknowledged", "PO-200")
        assert acknowledged.payload["lines"][0] == {
            "backorder_line_id": "OPO-2001-1",
            "line_no": 1,
            "status": "backordered",
            "quantity": 2,
            "expected_ship_date": "2026-12-24",
            "reason": None,
            "rejected_quantity": 0,  # one shipped, two backordered: nothing refused
        }
        assert (await h.po("PO-200"))["state"] == "partially_shipped"  # the late ack does not move it back


async def test_simulator_redelivery_of_a_callback_is_refused_as_a_replay(harness_factory: Any) -> None:
    async with harness_factory() as h:
        await h.request(purchase_order("PO-250", 1))
        await h.observer.wait_for("shipment.updated", "PO-250")
        sent = (await h.supplier.post("/admin/callbacks/wait")).json()["sent"]
        shipment_event = next(r for r in sent if r["type"] == "shipment" and r["po_number"] == "PO-250")
        await h.supplier.post(f"/admin/callbacks/{shipment_event['event_id']}/redeliver")
        view = (await h.supplier.post("/admin/callbacks/wait")).json()
        parked = [r for r in view["pending"] if r["event_id"] == shipment_event["event_id"]]
        assert parked and parked[0]["last_status"] == 401
        await asyncio.sleep(0.2)
        assert len(h.observer.of("shipment.updated", "PO-250")) == 1


@pytest.mark.parametrize(
    "faults",
    [
        {"fail_next": 3, "status": 503},
        {"rate_limit_next": 2, "retry_after": 0.2},
        {"crash_after_accept_next": 1},  # the supplier took the PO but answered 500
        {"delay_seconds": 3.0, "delay_next": 1},  # our 2 s timeout fires; the supplier still takes the PO
    ],
    ids=["5xx-burst", "429-retry-after", "500-after-accept", "timeout"],
)
async def test_supplier_faults_still_give_one_order_in_effect(harness_factory: Any, faults: dict[str, Any]) -> None:
    async with harness_factory(auto_ship_after_seconds=-1) as h:
        assert (await h.supplier.post("/admin/faults", json=faults)).status_code == 200
        await h.request(purchase_order("PO-300", 2))
        (placed,) = await h.observer.wait_for("purchase_order.placed", "PO-300", timeout=20)
        po = await h.wait_for_state("PO-300", "acknowledged")
        orders = (await h.supplier.get("/admin/purchase-orders")).json()["orders"]
        assert [o["po_number"] for o in orders] == ["PO-300"]
        await eventually(lambda: h.placement_requests("PO-300"), lambda attempts: len(attempts) >= 2)
        # the acknowledgement may overtake our record of the retried placement: then the id comes later
        assert placed.payload["supplier_order_id"] in (None, orders[0]["supplier_order_id"])
        await h.po_when("PO-300", lambda po: po["supplier_order_id"] == orders[0]["supplier_order_id"])
        assert po["dispatch"]["send_attempts"] == 1  # one claim; the retries happened inside it


async def test_a_refused_po_fails_and_an_operator_can_retry_it(harness_factory: Any) -> None:
    async with harness_factory() as h:
        await h.supplier.post("/admin/faults", json={"reject_next": 1, "reject_reason": "sku_not_orderable"})
        await h.request(purchase_order("PO-400", 1))
        (failed,) = await h.observer.wait_for("purchase_order.failed", "PO-400")
        assert failed.payload["reason"] == "sku_not_orderable"
        assert failed.payload["backorder_line_ids"] == ["OPO-4001-1"]
        po = await h.wait_for_state("PO-400", "failed")
        assert len(await h.placement_requests("PO-400")) == 1  # a 4xx is not retried

        assert (await h.gateway.post("/purchase-orders/PO-400/retry")).status_code == 200
        # the cause was fixed at the supplier: the same PO number is judged afresh and placed, once
        await h.observer.wait_for("purchase_order.placed", "PO-400")
        await h.wait_for_state("PO-400", "shipped")
        assert (await h.gateway.post("/purchase-orders/PO-400/retry")).status_code == 409
        assert (await h.supplier_order("PO-400"))["rejected"] is False
        assert (await h.gateway.post("/purchase-orders/NOPE/retry")).status_code == 404
        await h.request(purchase_order("PO-401", 1))
        await h.wait_for_state("PO-401", "shipped")
        assert (await h.gateway.post("/purchase-orders/PO-401/retry")).status_code == 409
        assert po["failure_reason"] == "sku_not_orderable"


async def test_a_down_supplier_does_not_stall_the_others(harness_factory: Any) -> None:
    async with harness_factory() as h:
        await register(h.gateway, "http://127.0.0.1:9", supplier_id="dead")  # nothing listens on port 9
        await h.request(purchase_order("PO-500", 1, supplier_id="dead"))
        await h.request(purchase_order("PO-501", 1))
        await h.wait_for_state("PO-501", "shipped")
        await h.wait_for_state("PO-500", "requested")
        dead = await h.po_when("PO-500", lambda po: po["dispatch"]["last_error"] is not None)
        assert dead["state"] == "requested"
        assert dead["dispatch"]["send_attempts"] >= 1
        # the last attempt's error: the supplier did not answer, or its circuit was open after that
        assert any(word in dead["dispatch"]["last_error"] for word in ("unavailable", "circuit open"))
        # the supplier comes back (its registry entry now points at a live endpoint): the PO goes out, once
        await register(h.gateway, h.supplier_url, supplier_id="dead")
        await h.observer.wait_for("purchase_order.placed", "PO-500", timeout=20)
        await asyncio.sleep(0.3)
        assert len(h.observer.of("purchase_order.placed", "PO-500")) == 1
        assert (await h.supplier_order("PO-500"))["receipts"] == 1


async def test_a_line_cancelled_after_sending_is_cancelled_at_the_supplier(harness_factory: Any) -> None:
    from dropship_shared.events import PurchaseOrderCancelRequested

    async with harness_factory(auto_ship_after_seconds=-1) as h:
        await h.request(purchase_order("PO-600", 2, 3))
        await h.wait_for_state("PO-600", "acknowledged")
        for line_no in (1, 2):
            await h.broker.publish(
                Envelope.wrap(
                    PurchaseOrderCancelRequested(
                        po_number="PO-600",
                        supplier_id="acme",
                        backorder_line_id=f"OPO-600{line_no}-1",
                        line_no=line_no,
                        quantity=2 if line_no == 1 else 3,
                    ),
                    "cancel",
                )
            )
            if line_no == 1:
                resolved = await h.observer.wait_for("purchase_order.line_cancellation_resolved", "PO-600")
                assert resolved[0].payload["outcome"] == "cancelled"
                # the supplier ships what is left before our second cancellation reaches it
                await h.supplier.post("/admin/purchase-orders/PO-600/ship", json={})
        resolved = await h.observer.wait_for("purchase_order.line_cancellation_resolved", "PO-600", count=2)
        assert [e.payload["outcome"] for e in resolved] == ["cancelled", "refused"]
        assert resolved[1].payload["reason"] == "already_shipped"  # the supplier's words, verbatim
        (refused,) = (await h.gateway.get("/exceptions", params={"kind": "cancel_refused"})).json()
        assert (refused["po_number"], refused["line_no"], refused["backorder_line_id"]) == ("PO-600", 2, "OPO-6002-1")
        supplier_order = await h.supplier_order("PO-600")
        assert [line["cancelled"] for line in supplier_order["lines"]] == [2, 0]


async def test_a_line_cancelled_before_sending_is_left_off_the_po(harness_factory: Any) -> None:
    from dropship_shared.events import PurchaseOrderCancelRequested

    async with harness_factory(auto_ship_after_seconds=-1) as h:
        await register(h.gateway, h.supplier_url, supplier_id="held", active=False)
        await h.request(purchase_order("PO-650", 2, 3, supplier_id="held"))
        await h.wait_for_state("PO-650", "requested")
        await h.po_when("PO-650", lambda po: po["dispatch"]["last_error"] is not None)
        await h.broker.publish(
            Envelope.wrap(
                PurchaseOrderCancelRequested(
                    po_number="PO-650", supplier_id="held", backorder_line_id="OPO-6501-1", line_no=1, quantity=2
                ),
                "cancel",
            )
        )
        (resolved,) = await h.observer.wait_for("purchase_order.line_cancellation_resolved", "PO-650")
        assert resolved.payload["outcome"] == "cancelled"
        assert (await h.po("PO-650"))["lines"][0]["status"] == "cancelled"
        assert (await h.supplier.get("/admin/purchase-orders/PO-650")).status_code == 404
        await register(h.gateway, h.supplier_url, supplier_id="held", active=True)  # off hold: it goes out now
        await h.wait_for_state("PO-650", "sent")  # (the simulator calls back as acme: those answers are refused)
        supplier_order = await h.supplier_order("PO-650")
        assert [(line["line_no"], line["qty"]) for line in supplier_order["lines"]] == [(2, 3)]


async def test_polling_mode_applies_the_supplier_feed_once(harness_factory: Any) -> None:
    async with harness_factory(callbacks=False) as h:
        await h.request(purchase_order("PO-700", 1))
        (shipped,) = await h.observer.wait_for("shipment.updated", "PO-700")
        assert shipped.payload["lines"][0]["backorder_line_id"] == "OPO-7001-1"
        await h.wait_for_state("PO-700", "shipped")
        await asyncio.sleep(0.5)  # more polling rounds change nothing
        assert len(h.observer.of("shipment.updated", "PO-700")) == 1
        assert len(h.observer.of("purchase_order.acknowledged", "PO-700")) == 1


async def test_supplier_registry_validates_and_hides_secrets(harness_factory: Any) -> None:
    async with harness_factory() as h:
        bad = await h.gateway.put(
            "/suppliers/x1", json={"protocol": "smoke", "base_url": "nope", "signing_secret": "s"}
        )
        assert bad.status_code == 422
        fields = {tuple(error["loc"]) for error in bad.json()["errors"]}
        assert {("body", "protocol"), ("body", "base_url"), ("body", "signing_secret")} <= fields
        no_ids = await h.gateway.put(
            "/suppliers/x1", json={"protocol": "x12", "base_url": "http://edi.example", "signing_secret": SECRET}
        )
        assert no_ids.status_code == 422
        listed = (await h.gateway.get("/suppliers")).json()
        assert [s["supplier_id"] for s in listed] == ["acme"]
        assert "signing_secret" not in listed[0]
        assert (await h.gateway.get("/suppliers/acme")).json()["protocol"] == "http"
        assert (await h.gateway.get("/suppliers/nobody")).status_code == 404


async def test_a_po_for_an_unregistered_supplier_fails_at_once_with_that_reason(harness_factory: Any) -> None:
    async with harness_factory() as h:
        await h.request(purchase_order("PO-800", 1, supplier_id="ghost"))
        (failed,) = await h.observer.wait_for("purchase_order.failed", "PO-800")
        assert failed.payload["reason"] == "supplier 'ghost' is not registered with the gateway"
        assert failed.payload["backorder_line_ids"] == ["OPO-8001-1"]
        (opened,) = await h.observer.wait_for("supplier_exception.opened", "PO-800")
        assert opened.payload["kind"] == "supplier_not_registered"
        po = await h.wait_for_state("PO-800", "failed")
        assert po["dispatch"]["last_error"] == failed.payload["reason"]


@pytest.mark.gateway(dispatch_give_up_attempts=3)
async def test_a_supplier_down_too_long_fails_the_po_and_operations_hear_of_it(harness_factory: Any) -> None:
    async with harness_factory() as h:
        await register(h.gateway, "http://127.0.0.1:9", supplier_id="dead")  # nothing listens on port 9
        await h.request(purchase_order("PO-810", 1, supplier_id="dead"))
        (failed,) = await h.observer.wait_for("purchase_order.failed", "PO-810", timeout=60)
        assert failed.payload["reason"].startswith("gave up after 3 attempts")
        po = await h.po("PO-810")
        assert (po["state"], po["dispatch"]["send_attempts"]) == ("failed", 3)
        (filed,) = (await h.gateway.get("/exceptions", params={"po_number": "PO-810", "open": True})).json()
        assert filed["kind"] == "supplier_unreachable" and filed["supplier_id"] == "dead"


@pytest.mark.gateway(dispatch_give_up_attempts=50, supplier_max_attempts=1)
async def test_a_supplier_registered_with_its_own_give_up_limits_fails_its_pos_by_them(harness_factory: Any) -> None:
    async with harness_factory() as h:
        for refused in ({"give_up_attempts": 0}, {"give_up_attempts": 1.5}, {"give_up_seconds": -1}):
            bad = await h.gateway.put(
                "/suppliers/quick",
                json={"protocol": "http", "base_url": "http://127.0.0.1:9", "signing_secret": SECRET, **refused},
            )
            assert bad.status_code == 422, refused
        await register(h.gateway, "http://127.0.0.1:9", supplier_id="quick", give_up_attempts=2)
        await register(h.gateway, "http://127.0.0.1:9", supplier_id="patient")  # the gateway's 50
        registered = (await h.gateway.get("/suppliers/quick")).json()
        assert (registered["give_up_attempts"], registered["give_up_seconds"]) == (2, None)
        (audited, *_) = (await h.gateway.get("/admin/audit", params={"action": "supplier.register"})).json()
        assert audited["target"] == "patient" and audited["details"]["give_up_attempts"] is None
        await h.request(purchase_order("PO-815", 1, supplier_id="quick"))
        await h.request(purchase_order("PO-816", 1, supplier_id="patient"))
        (failed,) = await h.observer.wait_for("purchase_order.failed", "PO-815", timeout=60)
        assert failed.payload["reason"].startswith("gave up after 2 attempts")
        patient = await h.po_when("PO-816", lambda po: po["dispatch"]["send_attempts"] >= 3, timeout=60)
        assert patient["state"] == "requested"  # past the other supplier's limit, still waiting for its own
        assert h.observer.of("purchase_order.failed", "PO-816") == []


@pytest.mark.gateway(dispatch_retry_base_seconds=600.0, dispatch_retry_max_seconds=600.0, supplier_max_attempts=2)
async def test_an_operator_sends_a_waiting_po_now_or_fails_it_by_hand(harness_factory: Any) -> None:
    async with harness_factory(auto_ship_after_seconds=-1) as h:
        await h.supplier.post("/admin/faults", json={"fail_next": 2, "status": 503})  # one claim's attempts
        await h.request(purchase_order("PO-820", 1))
        await h.wait_for_state("PO-820", "requested")
        waiting = await h.po_when("PO-820", lambda po: po["dispatch"]["last_error"] is not None)
        assert waiting["state"] == "requested"  # and its next try is ten minutes away
        sent_now = await h.gateway.post("/purchase-orders/PO-820/retry")  # a waiting PO goes now
        assert sent_now.status_code == 200, sent_now.text
        po = await h.po_when("PO-820", lambda po: po["state"] in ("sent", "acknowledged"))
        assert po["dispatch"]["last_error"] is None  # the last attempt succeeded

        await register(h.gateway, h.supplier_url, supplier_id="held", active=False)
        await h.request(purchase_order("PO-821", 2, supplier_id="held"))
        await h.wait_for_state("PO-821", "requested")
        await h.po_when("PO-821", lambda po: po["dispatch"]["last_error"] is not None)
        bad = await h.gateway.post("/purchase-orders/PO-821/fail", json={"reason": ""})
        assert bad.status_code == 422
        failed_by_hand = await h.gateway.post("/purchase-orders/PO-821/fail", json={"reason": "supplier closed"})
        assert failed_by_hand.status_code == 200, failed_by_hand.text
        assert failed_by_hand.json()["failure_reason"] == "failed by operations: supplier closed"
        (failed,) = await h.observer.wait_for("purchase_order.failed", "PO-821")
        assert failed.payload["reason"] == "failed by operations: supplier closed"
        assert (await h.gateway.post("/purchase-orders/PO-821/fail", json={"reason": "x"})).status_code == 409
        assert (await h.gateway.post("/purchase-orders/NOPE/fail", json={"reason": "x"})).status_code == 404

        (filed,) = (await h.gateway.get("/exceptions", params={"kind": "failed_by_operator"})).json()
        assert filed["order_id"] == "OPO-8211"
        assert (await h.gateway.get(f"/exceptions/{filed['exception_id']}")).json() == filed
        resolved = await h.gateway.post(f"/exceptions/{filed['exception_id']}/resolve", json={"note": "re-sourced"})
        assert resolved.status_code == 200 and resolved.json()["resolution_note"] == "re-sourced"
        again = await h.gateway.post(f"/exceptions/{filed['exception_id']}/resolve", json={"note": "again"})
        assert again.status_code == 409
        assert (await h.gateway.post("/exceptions/nope/resolve", json={"note": "x"})).status_code == 404
        assert (await h.gateway.get("/exceptions", params={"kind": "failed_by_operator", "open": True})).json() == []
        closed = (await h.gateway.get("/exceptions", params={"open": False})).json()
        assert [e["exception_id"] for e in closed] == [filed["exception_id"]]
        (event,) = await h.observer.wait_for("supplier_exception.resolved", "PO-821")
        assert event.payload["note"] == "re-sourced"
        assert (await h.gateway.get("/exceptions", params={"kind": "no_such_kind"})).status_code == 422


@pytest.mark.gateway(dispatch_retry_base_seconds=600.0, dispatch_retry_max_seconds=600.0)
async def test_an_operator_cancels_a_waiting_po_it_never_goes_out_and_orders_hears_of_it(
    harness_factory: Any,
) -> None:
    async with harness_factory(auto_ship_after_seconds=-1) as h:
        await register(h.gateway, h.supplier_url, supplier_id="held", active=False)
        await h.request(purchase_order("PO-830", 2, 1, supplier_id="held"))
        await h.po_when("PO-830", lambda po: po["dispatch"]["last_error"] is not None)
        assert (await h.gateway.post("/purchase-orders/PO-830/cancel", json={"reason": ""})).status_code == 422
        cancelled = await h.gateway.post("/purchase-orders/PO-830/cancel", json={"reason": "supplier closed"})
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["state"] == "cancelled"
        assert cancelled.json()["history"][-1]["note"] == "cancelled by operations: supplier closed"
        (event,) = await h.observer.wait_for("purchase_order.cancelled", "PO-830")
        assert event.payload["reason"] == "supplier closed"
        assert sorted(event.payload["backorder_line_ids"]) == ["OPO-8301-1", "OPO-8302-1"]
        # a customer's cancel of line 2 arriving now: the PO never left, it is done here
        cancel_request = PurchaseOrderCancelRequested(
            po_number="PO-830", supplier_id="held", backorder_line_id="OPO-8302-1", line_no=2, quantity=1
        )
        await h.broker.publish(Envelope.wrap(cancel_request, "test-cancel-830"))
        (resolved,) = await h.observer.wait_for("purchase_order.line_cancellation_resolved", "PO-830")
        assert resolved.payload["outcome"] == "cancelled"

        again = await h.gateway.post("/purchase-orders/PO-830/cancel", json={"reason": "x"})
        assert again.status_code == 409
        assert (await h.gateway.post("/purchase-orders/PO-830/retry")).status_code == 409
        assert (await h.gateway.post("/purchase-orders/NOPE/cancel", json={"reason": "x"})).status_code == 404
        (audited,) = (await h.gateway.get("/admin/audit", params={"action": "purchase_order.cancel"})).json()
        assert (audited["target"], audited["details"]) == ("PO-830", {"reason": "supplier closed"})

        await h.request(purchase_order("PO-831", 1))  # with the supplier: too late to cancel here
        await h.po_when("PO-831", lambda po: po["state"] in ("sent", "acknowledged"))
        left = await h.gateway.post("/purchase-orders/PO-831/cancel", json={"reason": "x"})
        assert left.status_code == 409 and "not yet placed" in left.json()["detail"]

        await register(h.gateway, h.supplier_url, supplier_id="held")  # back from hold: only new POs go out
        await h.request(purchase_order("PO-832", 1, supplier_id="held"))
        await h.po_when("PO-832", lambda po: po["state"] in ("sent", "acknowledged"))
        assert await h.placement_requests("PO-830") == []
        assert (await h.po("PO-830"))["state"] == "cancelled"


async def test_dead_letters_of_any_service_are_filed_in_the_inbox_and_replayed_from_it(
    harness_factory: Any, gateway_settings: GatewaySettings
) -> None:
    async with harness_factory() as h:

        async def exceptions(**filters: str) -> Any:
            return (await h.gateway.get("/exceptions", params={"kind": "dead_letter", **filters})).json()

        # the gateway's own: a purchase order request it can never read
        poison = Envelope(
            type="purchase_order.requested",
            correlation_id="poison",
            payload={"po_number": "PO-DL", "supplier_id": "acme"},
        )
        await h.broker.publish(poison)
        filed = await eventually(exceptions, lambda found: len(found) == 1)
        (letter,) = filed
        queue = gateway_settings.queue_name("supplier-gateway")
        assert (letter["queue"], letter["routing_key"], letter["message_id"]) == (
            queue,
            "purchase_order.requested",
            str(poison.event_id),
        )
        assert (letter["supplier_id"], letter["po_number"]) == ("acme", "PO-DL")
        assert "malformed" in letter["detail"] and "invalid purchase_order.requested payload" in letter["detail"]
        assert '"PO-DL"' in letter["received"]

        # resolved with a replay: the message goes out again from the DLQ, fails again, and is filed again
        resolved = await h.gateway.post(
            f"/exceptions/{letter['exception_id']}/resolve", json={"note": "fixed upstream", "replay": True}
        )
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["resolution_note"] == "fixed upstream (message replayed)"
        again = await eventually(exceptions, lambda found: len(found) == 2)
        assert again[0]["message_id"] == str(poison.event_id) and again[0]["resolved_at"] is None
        twice = await h.gateway.post(
            f"/exceptions/{letter['exception_id']}/resolve", json={"note": "x", "replay": True}
        )
        assert twice.status_code == 409
        (audited, *_) = (await h.gateway.get("/admin/audit", params={"action": "exception.resolve"})).json()
        assert audited["details"]["replayed"] is True

        # another service's dead letter, announced the same way: filed with what its payload names
        body = json.dumps({"type": "shipment.updated", "payload": {"po_number": "PO-77", "supplier_id": "acme"}})
        notice = DeadLetterRecorded(
            queue="elsewhere.orders",
            routing_key="shipment.updated",
            message_id="m-1",
            reason="handler_failed",
            error="handler failed 6 times: RuntimeError('x')",
            body=body,
            dead_lettered_at=datetime.now(UTC),
        )
        await h.broker.publish(Envelope.wrap(notice, "orders-side"))
        await h.broker.publish(Envelope.wrap(notice, "orders-side"))  # a second dead-lettering of it: filed too
        others = await eventually(
            lambda: exceptions(po_number="PO-77"),
            lambda found: len(found) == 2,
        )
        assert {e["queue"] for e in others} == {"elsewhere.orders"}
        gone = await h.gateway.post(
            f"/exceptions/{others[0]['exception_id']}/resolve", json={"note": "x", "replay": True}
        )
        assert gone.status_code == 409 and "no longer in elsewhere.orders.dlq" in gone.json()["detail"]

        # a supplier exception has nothing to replay
        await h.request(purchase_order("PO-DL2", 1, supplier_id="ghost"))
        (ghost,) = await eventually(lambda: exceptions(kind="supplier_not_registered"), lambda found: len(found) == 1)
        refused = await h.gateway.post(
            f"/exceptions/{ghost['exception_id']}/resolve", json={"note": "x", "replay": True}
        )
        assert refused.status_code == 409 and "not a dead letter" in refused.json()["detail"]


@pytest.mark.gateway(late_shipment_grace_days=1, late_shipment_check_seconds=0.2)
async def test_a_line_past_its_acknowledged_ship_date_raises_an_exception_and_moves_the_promise(
    harness_factory: Any,
) -> None:
    async with harness_factory(auto_ack=False, auto_ship_after_seconds=-1) as h:
        await h.request(purchase_order("PO-900", 2))
        await h.wait_for_state("PO-900", "sent")
        ack = {
            "po_number": "PO-900",
            "status": "accepted",
            "lines": [{"line_no": 1, "status": "accepted", "qty": 2, "expected_ship_date": "2026-01-05"}],
        }
        assert (await h.signed_post("/suppliers/acme/callbacks/acknowledgement", ack)).status_code == 200
        (late,) = await h.observer.wait_for("purchase_order.line_late", "PO-900")
        assert late.payload["expected_ship_date"] == "2026-01-05"
        assert late.payload["backorder_line_id"] == "OPO-9001-1"
        (filed,) = (await h.gateway.get("/exceptions", params={"kind": "late_shipment"})).json()
        assert filed["po_number"] == "PO-900" and "2026-01-05" in filed["detail"]
        await asyncio.sleep(0.6)  # more checks: reported once per acknowledged date
        assert len(h.observer.of("purchase_order.line_late", "PO-900")) == 1
