"""The HTTP supplier client against the supplier simulator, both over real HTTP (uvicorn)."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from dropship_shared.signing import EVENT_ID_HEADER, SignatureError, verify
from supplier_gateway.adapters.circuit_breaker import CircuitState
from supplier_gateway.adapters.http_supplier import (
    HttpSupplierClient,
    HttpSupplierConfig,
    RetryPolicy,
    SupplierCircuitOpen,
    SupplierLimits,
    parse_retry_after,
)
from supplier_gateway.adapters.supplier_answers import CancelVerdict
from supplier_gateway.service_layer.supplier_port import SupplierRefused, SupplierUnreachable
from supplier_simulator import SimulatorSettings, create_app
from support.servers import run_uvicorn_app

SECRET = "test-secret-acme"
FAST_RETRY = RetryPolicy(max_attempts=5, backoff_base=0.05, backoff_max=0.3, jitter=0.02, retry_after_cap=5.0)


# -- a gateway stand-in that verifies every callback ----------------------------------------
@dataclass
class ReceivedCallback:
    kind: str
    event_id: str
    event_type: str | None
    body: dict[str, Any]


@dataclass
class CallbackReceiver:
    """Records verified callbacks; answers 503 ``fail_next`` times; 401 on bad signatures."""

    base_url: str = ""
    received: list[ReceivedCallback] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of_kind(self, kind: str) -> list[ReceivedCallback]:
        with self.lock:
            return [c for c in self.received if c.kind == kind]

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.refused.clear()
            self.fail_next = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/callbacks/{kind}")
        async def callback(kind: str, request: Request) -> Response:
            raw = await request.body()
            with self.lock:
                if self.fail_next > 0:
                    self.fail_next -= 1
                    return Response(status_code=503)
            try:
                verified = verify(SECRET, raw, request.headers)
            except SignatureError as exc:
                with self.lock:
                    self.refused.append(exc.reason)
                return Response(status_code=401)
            with self.lock:
                self.received.append(
                    ReceivedCallback(kind, verified.event_id, request.headers.get("X-Event-Type"), await request.json())
                )
            return Response(status_code=204)

        return app


@pytest.fixture(scope="module")
def receiver() -> Iterator[CallbackReceiver]:
    recv = CallbackReceiver()
    with run_uvicorn_app(recv.app()) as base_url:
        recv.base_url = base_url
        yield recv


def simulator_settings(receiver: CallbackReceiver, **overrides: Any) -> SimulatorSettings:
    values: dict[str, Any] = {
        "supplier_id": "acme",
        "secret": SECRET,
        "callback_url": f"{receiver.base_url}/callbacks/{{kind}}",
        "auto_ack": True,
        "auto_ship_after_seconds": -1,
        "callback_max_attempts": 3,
        "callback_backoff_seconds": 0.05,
        **overrides,
    }
    return SimulatorSettings(**values)


@pytest.fixture(scope="module")
def simulator_url(receiver: CallbackReceiver) -> Iterator[str]:
    with run_uvicorn_app(create_app(simulator_settings(receiver))) as base_url:
        yield base_url


@pytest.fixture
async def admin(simulator_url: str, receiver: CallbackReceiver) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=simulator_url, timeout=10) as http:
        (await http.post("/admin/reset")).raise_for_status()
        receiver.reset()
        yield http


def make_client(**limits: Any) -> HttpSupplierClient:
    timeout = limits.pop("timeout", 2.0)
    retry = limits.pop("retry", FAST_RETRY)
    config = HttpSupplierConfig(
        timeout=timeout,
        retry=retry,
        limits=SupplierLimits(**{"requests_per_second": None, "failure_threshold": 50, "reset_timeout": 0.3, **limits}),
    )
    return HttpSupplierClient(config=config)


@pytest.fixture
async def client() -> AsyncIterator[HttpSupplierClient]:
    async with make_client() as supplier_client:
        yield supplier_client


def make_po(po_number: str | None = None, n_lines: int = 2) -> dict[str, Any]:
    return {
        "po_number": po_number or f"PO-{uuid.uuid4().hex[:10].upper()}",
        "currency": "EUR",
        "lines": [
            {
                "line_no": n,
                "sku": f"ACME-{n:03d}",
                "qty": n + 1,
                "unit_cost": "12.50",
                "ship_to": {
                    "name": f"Customer {n}",
                    "address_lines": [f"{n} Main Street"],
                    "city": "Lyon",
                    "region": "ARA",
                    "postal_code": "69001",
                    "country": "FR",
                },
                "customer_ref": f"ORD-{n}",
            }
            for n in range(1, n_lines + 1)
        ],
    }


async def orders(admin: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    response = await admin.get("/admin/purchase-orders")
    response.raise_for_status()
    return {o["po_number"]: o for o in response.json()["orders"]}


async def attempts_for(admin: httpx.AsyncClient, po_number: str) -> list[dict[str, Any]]:
    log = (await admin.get("/admin/requests")).json()["requests"]
    return [r for r in log if r["idempotency_key"] == po_number]


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


# -- placement ------------------------------------------------------------------------------
async def test_place_then_repeat_returns_the_first_answer(admin: httpx.AsyncClient, simulator_url: str) -> None:
    po = make_po()
    async with make_client() as client:
        first = await client.place_purchase_order(simulator_url, po)
        again = await client.place_purchase_order(simulator_url, po)
    assert first.status == "received" and not first.replayed and first.http_status == 201
    assert again.replayed and again.http_status == 200
    assert again.supplier_order_id == first.supplier_order_id
    placed = await orders(admin)
    assert list(placed) == [po["po_number"]]
    assert placed[po["po_number"]]["receipts"] == 2


async def test_5xx_burst_then_success_records_one_receipt(
    admin: httpx.AsyncClient, client: HttpSupplierClient, simulator_url: str
) -> None:
    await admin.post("/admin/faults", json={"fail_next": 3, "status": 503})
    po = make_po()
    result = await client.place_purchase_order(simulator_url, po)
    assert result.attempts == 4 and not result.replayed
    assert [a["status_code"] for a in await attempts_for(admin, po["po_number"])] == [503, 503, 503, 201]
    placed = await orders(admin)
    assert placed[po["po_number"]]["receipts"] == 1
    assert placed[po["po_number"]]["supplier_order_id"] == result.supplier_order_id


async def test_gives_up_with_supplier_unreachable_after_max_attempts(
    admin: httpx.AsyncClient, client: HttpSupplierClient, simulator_url: str
) -> None:
    await admin.post("/admin/faults", json={"fail_next": 10, "status": 502})
    po = make_po()
    with pytest.raises(SupplierUnreachable) as err:
        await client.place_purchase_order(simulator_url, po)
    assert err.value.attempts == FAST_RETRY.max_attempts and err.value.last_status == 502
    assert len(await attempts_for(admin, po["po_number"])) == FAST_RETRY.max_attempts
    assert await orders(admin) == {}


@pytest.mark.parametrize("http_date", [False, True])
async def test_429_waits_as_long_as_retry_after_says(
    admin: httpx.AsyncClient, client: HttpSupplierClient, simulator_url: str, http_date: bool
) -> None:
    retry_after = 2.0 if http_date else 0.6
    await admin.post(
        "/admin/faults", json={"rate_limit_next": 1, "retry_after": retry_after, "retry_after_http_date": http_date}
    )
    po = make_po()
    started = time.monotonic()
    result = await client.place_purchase_order(simulator_url, po)
    waited = time.monotonic() - started
    assert result.attempts == 2
    # an HTTP date has whole-second resolution, so it may be up to 1 s early
    assert waited >= (retry_after - 1.0 if http_date else retry_after)
    assert [a["status_code"] for a in await attempts_for(admin, po["po_number"])] == [429, 201]


async def test_timeouts_are_retried_and_the_order_is_in_effect_once(
    admin: httpx.AsyncClient, simulator_url: str
) -> None:
    await admin.post("/admin/faults", json={"delay_seconds": 1.0, "delay_next": 1})
    po = make_po()
    async with make_client(timeout=0.3) as client:
        result = await client.place_purchase_order(simulator_url, po)
    assert result.attempts == 2
    await asyncio.sleep(1.0)  # let the abandoned slow request finish on the supplier side
    placed = await orders(admin)
    assert list(placed) == [po["po_number"]]
    assert placed[po["po_number"]]["receipts"] >= 1
    assert placed[po["po_number"]]["supplier_order_id"] == result.supplier_order_id
    outcomes = sorted(a["outcome"] for a in await attempts_for(admin, po["po_number"]))
    assert outcomes in (["processed", "replayed"], ["processed"])


async def test_business_rejection_is_not_retried(
    admin: httpx.AsyncClient, client: HttpSupplierClient, simulator_url: str
) -> None:
    await admin.post("/admin/faults", json={"reject_next": 1, "reject_reason": "sku_discontinued"})
    po = make_po()
    with pytest.raises(SupplierRefused) as err:
        await client.place_purchase_order(simulator_url, po)
    assert err.value.status == 422 and err.value.reason == "sku_discontinued"
    placed = await orders(admin)
    assert placed[po["po_number"]]["receipts"] == 1
    assert placed[po["po_number"]]["status"] == "rejected"
    assert len(await attempts_for(admin, po["po_number"])) == 1


async def test_invalid_body_is_a_rejection_not_retried(
    admin: httpx.AsyncClient, client: HttpSupplierClient, simulator_url: str
) -> None:
    po = make_po()
    del po["lines"][0]["ship_to"]
    with pytest.raises(SupplierRefused) as err:
        await client.place_purchase_order(simulator_url, po)
    assert err.value.status == 422
    assert len(await attempts_for(admin, po["po_number"])) == 1
    assert await orders(admin) == {}


async def test_missing_idempotency_key_is_refused(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/purchase-orders", json=make_po())
    assert response.status_code == 400
    mismatch = await admin.post("/purchase-orders", json=make_po("PO-A"), headers={"Idempotency-Key": "PO-B"})
    assert mismatch.status_code == 400


async def test_crash_after_accept_is_retried_into_the_replayed_answer(
    admin: httpx.AsyncClient, client: HttpSupplierClient, simulator_url: str
) -> None:
    await admin.post("/admin/faults", json={"crash_after_accept_next": 1})
    po = make_po()
    result = await client.place_purchase_order(simulator_url, po)
    assert result.replayed and result.attempts == 2
    placed = await orders(admin)
    assert list(placed) == [po["po_number"]]
    assert placed[po["po_number"]]["supplier_order_id"] == result.supplier_order_id
    assert placed[po["po_number"]]["receipts"] == 2


async def test_409_naming_the_first_answer_counts_as_success(
    admin: httpx.AsyncClient, client: HttpSupplierClient, simulator_url: str
) -> None:
    po = make_po()
    first = await client.place_purchase_order(simulator_url, po)
    await admin.post("/admin/faults", json={"replay_with_409": True})
    again = await client.place_purchase_order(simulator_url, po)
    assert again.http_status == 409 and again.replayed
    assert again.supplier_order_id == first.supplier_order_id


# -- circuit breaker and rate limit ---------------------------------------------------------
async def test_circuit_opens_fails_fast_and_recovers(admin: httpx.AsyncClient, simulator_url: str) -> None:
    retry = RetryPolicy(max_attempts=2, backoff_base=0.02, backoff_max=0.05, jitter=0.0)
    async with make_client(retry=retry, failure_threshold=3, reset_timeout=0.5) as client:
        await admin.post("/admin/faults", json={"fail_next": 100, "status": 503})
        with pytest.raises(SupplierUnreachable) as first:
            await client.place_purchase_order(simulator_url, make_po("PO-CB-1"), supplier_id="acme")
        assert not isinstance(first.value, SupplierCircuitOpen)
        with pytest.raises(SupplierCircuitOpen):  # third failure opens it mid-retry
            await client.place_purchase_order(simulator_url, make_po("PO-CB-2"), supplier_id="acme")
        assert client.breaker_state("acme") is CircuitState.OPEN
        seen = len((await admin.get("/admin/requests")).json()["requests"])
        assert seen == 3

        started = time.monotonic()
        with pytest.raises(SupplierCircuitOpen) as fast:
            await client.place_purchase_order(simulator_url, make_po("PO-CB-3"), supplier_id="acme")
        assert time.monotonic() - started < 0.1
        assert fast.value.retry_after is not None and 0 < fast.value.retry_after <= 0.5
        assert len((await admin.get("/admin/requests")).json()["requests"]) == seen  # nothing sent

        # another supplier keeps working meanwhile
        await admin.delete("/admin/faults")
        other = await client.place_purchase_order(simulator_url, make_po("PO-OTHER"), supplier_id="globex")
        assert other.status == "received"
        assert client.breaker_state("acme") is CircuitState.OPEN

        await asyncio.sleep(0.55)
        assert client.breaker_state("acme") is CircuitState.HALF_OPEN
        recovered = await client.place_purchase_order(simulator_url, make_po("PO-CB-3"), supplier_id="acme")
        assert recovered.status == "received"
        assert client.breaker_state("acme") is CircuitState.CLOSED


async def test_a_dead_supplier_does_not_stall_the_others(admin: httpx.AsyncClient, simulator_url: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: refused
        retry = RetryPolicy(max_attempts=3, backoff_base=0.02, backoff_max=0.05, jitter=0.0)
        async with make_client(retry=retry, failure_threshold=2, reset_timeout=30) as client:
            results = await asyncio.gather(
                client.place_purchase_order(dead_url, make_po(), supplier_id="dead"),
                client.place_purchase_order(simulator_url, make_po(), supplier_id="acme"),
                return_exceptions=True,
            )
            assert isinstance(results[0], SupplierCircuitOpen)
            assert not isinstance(results[1], BaseException) and results[1].status == "received"
            started = time.monotonic()
            with pytest.raises(SupplierCircuitOpen):
                await client.place_purchase_order(dead_url, make_po(), supplier_id="dead")
            assert time.monotonic() - started < 0.1


async def test_rate_limit_spaces_requests_per_supplier(admin: httpx.AsyncClient, simulator_url: str) -> None:
    async with make_client(requests_per_second=0.5, burst=1) as client:
        answered: list[str] = []

        async def place(supplier_id: str) -> None:
            await client.place_purchase_order(simulator_url, make_po(), supplier_id=supplier_id)
            answered.append(supplier_id)

        async def three_for_slowpoke() -> None:
            for _ in range(3):
                await place("slowpoke")

        started = time.monotonic()
        slowpoke = asyncio.create_task(three_for_slowpoke())
        while not answered:  # slowpoke's first PO went out at once (the burst); its second now waits 2 s
            await asyncio.sleep(0.01)
        await place("other")
        await slowpoke
        # Orderings, not timings: another supplier is not held back behind slowpoke's spacing...
        assert answered == ["slowpoke", "other", "slowpoke", "slowpoke"]
        # ...and slowpoke's three POs took at least the two 2-second gaps the limit imposes.
        assert time.monotonic() - started >= 3.9


# -- cancel ---------------------------------------------------------------------------------
async def test_cancel_before_and_after_shipment(
    admin: httpx.AsyncClient, client: HttpSupplierClient, simulator_url: str
) -> None:
    po = make_po(n_lines=3)
    number = po["po_number"]
    await client.place_purchase_order(simulator_url, po)
    partial = await client.cancel_purchase_order(simulator_url, number, [{"line_no": 3, "qty": 1}])
    assert partial.outcome is CancelVerdict.ACCEPTED and partial.accepted

    ship = await admin.post(f"/admin/purchase-orders/{number}/ship", json={"lines": [{"line_no": 1, "qty": 2}]})
    assert ship.status_code == 201
    shipped = await client.cancel_purchase_order(simulator_url, number, [{"line_no": 1, "qty": 1}])
    assert shipped.outcome is CancelVerdict.REFUSED and shipped.reason == "already_shipped"

    rest = await client.cancel_purchase_order(simulator_url, number, [{"line_no": 2, "qty": 3}])
    assert rest.accepted
    state = (await orders(admin))[number]
    assert {ln["line_no"]: (ln["shipped"], ln["cancelled"], ln["open"]) for ln in state["lines"]} == {
        1: (2, 0, 0),
        2: (0, 3, 0),
        3: (0, 1, 3),
    }


async def test_cancel_all_after_full_shipment_is_rejected(
    admin: httpx.AsyncClient, client: HttpSupplierClient, simulator_url: str
) -> None:
    po = make_po()
    await client.place_purchase_order(simulator_url, po)
    await admin.post(f"/admin/purchase-orders/{po['po_number']}/ship")
    result = await client.cancel_purchase_order(simulator_url, po["po_number"])
    assert result.outcome is CancelVerdict.REFUSED


async def test_cancel_is_idempotent_under_retries(
    admin: httpx.AsyncClient, client: HttpSupplierClient, simulator_url: str
) -> None:
    po = make_po()
    await client.place_purchase_order(simulator_url, po)
    first = await client.cancel_purchase_order(simulator_url, po["po_number"], [{"line_no": 2, "qty": 1}])
    repeat = await client.cancel_purchase_order(simulator_url, po["po_number"], [{"line_no": 2, "qty": 1}])
    assert first.accepted and repeat.accepted
    line2 = next(ln for ln in (await orders(admin))[po["po_number"]]["lines"] if ln["line_no"] == 2)
    assert line2["cancelled"] == 1


async def test_cancel_of_unknown_po_is_refused(client: HttpSupplierClient, simulator_url: str) -> None:
    result = await client.cancel_purchase_order(simulator_url, "PO-NOPE")
    assert result.outcome is CancelVerdict.REFUSED and not result.accepted
    assert result.reason  # the simulator's words, whatever they are


# -- callbacks and polling ------------------------------------------------------------------
async def test_callbacks_arrive_signed_and_verifiable(
    admin: httpx.AsyncClient, client: HttpSupplierClient, simulator_url: str, receiver: CallbackReceiver
) -> None:
    po = make_po()
    number = po["po_number"]
    await client.place_purchase_order(simulator_url, po)
    await eventually(lambda: len(receiver.of_kind("acknowledgement")) == 1)
    ack = receiver.of_kind("acknowledgement")[0]
    assert ack.event_type == "acknowledgement"
    assert ack.body == {
        "po_number": number,
        "status": "accepted",
        "lines": [{"line_no": 1, "status": "accepted", "qty": 2}, {"line_no": 2, "status": "accepted", "qty": 3}],
    }

    await admin.post(f"/admin/purchase-orders/{number}/ship", json={"lines": [{"line_no": 1, "qty": 1}]})
    await admin.post(f"/admin/purchase-orders/{number}/ship", json={"packages": 2})
    await eventually(lambda: len(receiver.of_kind("shipment")) == 2)
    first, second = (c.body for c in receiver.of_kind("shipment"))
    assert first["shipment_id"] != second["shipment_id"]
    assert first["carrier"] == {"scac": "UPSN", "name": "UPS"} and first["service"]
    assert first["packages"][0]["lines"] == [{"line_no": 1, "qty": 1}]
    assert [p["lines"] for p in second["packages"]] == [[{"line_no": 1, "qty": 1}], [{"line_no": 2, "qty": 3}]]
    for package in first["packages"] + second["packages"]:
        assert re.fullmatch(r"1Z\d{16}", package["tracking_number"])
        assert package["tracking_number"] in package["tracking_url"]
    assert receiver.refused == []
    assert (await orders(admin))[number]["status"] == "shipped"
    assert len({c.event_id for c in receiver.received}) == 3


async def test_custom_acknowledgement_with_backorder_and_rejection(
    admin: httpx.AsyncClient, simulator_url: str, receiver: CallbackReceiver
) -> None:
    po = make_po(n_lines=3)
    number = po["po_number"]
    async with make_client() as client:
        await client.place_purchase_order(simulator_url, po)
    await eventually(lambda: len(receiver.of_kind("acknowledgement")) == 1)
    custom = {
        "lines": [
            {"line_no": 2, "status": "backordered", "qty": 3, "expected_ship_date": "2030-01-15"},
            {"line_no": 3, "status": "rejected", "qty": 4, "reason": "discontinued"},
        ]
    }
    response = await admin.post(f"/admin/purchase-orders/{number}/acknowledge", json=custom)
    assert response.status_code == 201
    await eventually(lambda: len(receiver.of_kind("acknowledgement")) == 2)
    body = receiver.of_kind("acknowledgement")[1].body
    assert body["status"] == "partial"
    assert body["lines"][1] == {"line_no": 2, "status": "backordered", "qty": 3, "expected_ship_date": "2030-01-15"}
    assert body["lines"][2]["reason"] == "discontinued"
    line3 = next(ln for ln in (await orders(admin))[number]["lines"] if ln["line_no"] == 3)
    assert line3["open"] == 0


async def test_callbacks_are_retried_then_parked_as_pending(
    admin: httpx.AsyncClient, client: HttpSupplierClient, simulator_url: str, receiver: CallbackReceiver
) -> None:
    receiver.fail_next = 2  # fewer failures than attempts: delivered
    po = make_po()
    await client.place_purchase_order(simulator_url, po)
    await eventually(lambda: len(receiver.of_kind("acknowledgement")) == 1)
    view = (await admin.post("/admin/callbacks/wait")).json()
    assert view["sent"][0]["attempts"] == 3 and view["pending"] == []

    receiver.fail_next = 100  # the gateway is down
    await admin.post(f"/admin/purchase-orders/{po['po_number']}/ship")
    view = (await admin.post("/admin/callbacks/wait")).json()
    assert len(view["pending"]) == 1 and view["pending"][0]["type"] == "shipment"
    assert view["pending"][0]["last_status"] == 503

    receiver.fail_next = 0
    assert (await admin.post("/admin/callbacks/retry-pending")).json() == {"queued": 1}
    await eventually(lambda: len(receiver.of_kind("shipment")) == 1)
    view = (await admin.post("/admin/callbacks/wait")).json()
    assert view["pending"] == [] and len(view["sent"]) == 2


async def test_redelivery_reuses_the_event_id(
    admin: httpx.AsyncClient, client: HttpSupplierClient, simulator_url: str, receiver: CallbackReceiver
) -> None:
    po = make_po()
    await client.place_purchase_order(simulator_url, po)
    await eventually(lambda: len(receiver.received) == 1)
    event_id = receiver.received[0].event_id
    assert (await admin.post(f"/admin/callbacks/{event_id}/redeliver")).status_code == 202
    await eventually(lambda: len(receiver.received) == 2)
    assert receiver.received[1].event_id == event_id


async def test_polling_mode_returns_the_same_events_in_order(
    admin: httpx.AsyncClient, client: HttpSupplierClient, simulator_url: str, receiver: CallbackReceiver
) -> None:
    po = make_po()
    number = po["po_number"]
    await client.place_purchase_order(simulator_url, po)
    await eventually(lambda: len(receiver.received) == 1)
    await admin.post(f"/admin/purchase-orders/{number}/ship")
    page = await client.poll_events(simulator_url, number)
    assert [e.type for e in page.events] == ["acknowledgement", "shipment"]
    assert page.events[1].body["po_number"] == number
    assert page.next_cursor == page.events[-1].cursor
    await eventually(lambda: len(receiver.received) == 2)
    assert {e.event_id for e in page.events} == {c.event_id for c in receiver.received}
    assert [e.body for e in page.events] == [c.body for c in receiver.received]

    empty = await client.poll_events(simulator_url, number, page.next_cursor)
    assert empty.events == [] and empty.next_cursor == page.next_cursor
    with pytest.raises(SupplierRefused):
        await client.poll_events(simulator_url, "PO-UNKNOWN")


# -- simulator options ----------------------------------------------------------------------
async def test_auto_ship_sends_everything_after_the_delay(receiver: CallbackReceiver) -> None:
    receiver.reset()
    settings = simulator_settings(receiver, supplier_id="fastship", auto_ship_after_seconds=0.1)
    with run_uvicorn_app(create_app(settings)) as base_url:
        po = make_po()
        async with make_client() as client:
            await client.place_purchase_order(base_url, po)
        await eventually(lambda: len(receiver.of_kind("shipment")) == 1)
    shipment = receiver.of_kind("shipment")[0].body
    assert shipment["po_number"] == po["po_number"]
    assert shipment["shipment_id"].startswith("FASTSHIP-SH-")
    shipped = [ln for p in shipment["packages"] for ln in p["lines"]]
    assert shipped == [{"line_no": 1, "qty": 2}, {"line_no": 2, "qty": 3}]
    assert receiver.of_kind("acknowledgement")[0].body["po_number"] == po["po_number"]


async def test_state_file_keeps_idempotency_across_restarts(receiver: CallbackReceiver, tmp_path: Path) -> None:
    settings = simulator_settings(receiver, auto_ack=False, state_file=tmp_path / "acme.json")
    po = make_po()
    with run_uvicorn_app(create_app(settings)) as base_url:
        async with make_client() as client:
            first = await client.place_purchase_order(base_url, po)
    with run_uvicorn_app(create_app(settings)) as base_url:
        async with make_client() as client:
            again = await client.place_purchase_order(base_url, po)
            fresh = await client.place_purchase_order(base_url, make_po())
        async with httpx.AsyncClient(base_url=base_url) as http:
            state = (await http.get(f"/admin/purchase-orders/{po['po_number']}")).json()
    assert again.replayed and again.supplier_order_id == first.supplier_order_id
    assert fresh.supplier_order_id != first.supplier_order_id
    assert state["receipts"] == 2


def test_parse_retry_after_accepts_seconds_and_http_dates() -> None:
    from datetime import UTC, datetime

    now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("Tue, 01 Jan 2030 12:00:07 GMT", now=now) == 7.0
    assert parse_retry_after("Mon, 31 Dec 2029 12:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_event_id_header_name_is_the_documented_one() -> None:
    assert EVENT_ID_HEADER == "X-Event-Id"


def test_backoff_grows_exponentially_with_bounded_jitter_and_a_cap() -> None:
    client = HttpSupplierClient(
        httpx.AsyncClient(),
        config=HttpSupplierConfig(retry=RetryPolicy(backoff_base=0.1, backoff_max=0.5, jitter=0.05)),
    )
    for attempt, low in [(1, 0.1), (2, 0.2), (3, 0.4)]:
        waits = [client.backoff(attempt) for _ in range(50)]
        assert all(low <= w <= min(low + 0.05, 0.5) for w in waits)
    assert client.backoff(10) == 0.5


# -- documents (X12) share the JSON calls' protection ----------------------------------------
async def test_documents_and_json_calls_share_one_circuit_breaker_per_supplier(
    admin: httpx.AsyncClient, simulator_url: str
) -> None:
    async with make_client(failure_threshold=2, reset_timeout=60, retry=RetryPolicy(max_attempts=2)) as client:
        with pytest.raises(SupplierUnreachable):  # nothing listens on port 9: two failed attempts
            await client.post_document("http://127.0.0.1:9/edi", b"ISA*00*", {}, supplier_id="acme")
        assert client.breaker_state("acme") is CircuitState.OPEN
        po = make_po()
        with pytest.raises(SupplierCircuitOpen):  # the JSON API of the same supplier is spared too
            await client.place_purchase_order(simulator_url, po, supplier_id="acme")
        assert await attempts_for(admin, po["po_number"]) == []
        refused = client.post_document(f"{simulator_url}/purchase-orders", b"ISA*00*", {}, supplier_id="other")
        with pytest.raises(SupplierRefused) as err:  # a 4xx is a refusal with the endpoint's words
            await refused
        assert err.value.status is not None and 400 <= err.value.status < 500
        assert err.value.reason.startswith("the endpoint refused the document: ")
