"""kill -9 of the gateway between sending a PO and recording it: the restarted gateway sends it again under
the same idempotency key and the supplier still has one order."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest

from dropship_shared.events import Address, Envelope, PurchaseOrderLine, PurchaseOrderRequested
from dropship_shared.messaging import Broker
from supplier_simulator.app import create_app as create_simulator
from supplier_simulator.settings import SimulatorSettings
from support.infrastructure import BrokerNamespace
from support.servers import consuming, free_port, run_uvicorn_app
from support.tokens import bearer

SECRET = "acme-signing-secret-0123456789"
ADDRESS = Address(name="Ann", address_lines=["1 Main St"], city="Springfield", postal_code="12345", country="US")
REQUESTED = PurchaseOrderRequested(
    po_number="PO-CRASH-1",
    supplier_id="acme",
    currency="USD",
    release_reason="minimum_reached",
    lines=[
        PurchaseOrderLine(
            line_no=1,
            backorder_line_id="O1-1",
            sku="SKU-1",
            supplier_sku="A-1",
            quantity=2,
            unit_cost=Decimal("2.50"),
            ship_to=ADDRESS,
            customer_ref="O1/1",
        )
    ],
)


class GatewayProcess:
    """`python -m supplier_gateway` as a real process on a fixed port (so the supplier can call it back)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self._env = env
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "supplier_gateway"], env=self._env, stdout=log, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def simulator_url(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    gateway_port = free_port()
    settings = SimulatorSettings(
        secret=SECRET,
        supplier_id="acme",
        callback_url=f"http://127.0.0.1:{gateway_port}/suppliers/{{supplier_id}}/callbacks",
        auto_ack=False,
        auto_ship_after_seconds=-1,
    )
    with run_uvicorn_app(create_simulator(settings)) as url:
        yield url, gateway_port


@pytest.fixture
async def placed_events(broker_namespace: BrokerNamespace) -> AsyncIterator[list[Envelope]]:
    seen: list[Envelope] = []
    connection = await aio_pika.connect(broker_namespace.amqp_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(broker_namespace.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(broker_namespace.queue("crash-observer"), auto_delete=True)
    await queue.bind(exchange, routing_key="purchase_order.placed")

    async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            seen.append(Envelope.model_validate_json(message.body))

    await queue.consume(collect)
    yield seen
    await connection.close()


async def wait_until(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = await check()
        except httpx.TransportError:
            result = None
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


@pytest.mark.slow
async def test_kill_9_between_sending_and_recording_resends_with_the_same_key(
    database_url: str,
    broker_namespace: BrokerNamespace,
    simulator_url: tuple[str, int],
    placed_events: list[Envelope],
    tmp_path: Path,
) -> None:
    supplier_url, port = simulator_url
    broker_namespace.queue("supplier-gateway")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "AMQP_URL": broker_namespace.amqp_url,
        "EXCHANGE": broker_namespace.exchange,
        "QUEUE_PREFIX": f"{broker_namespace.prefix}.",
        "HTTP_PORT": str(port),
        "LOG_JSON": "false",
        "OUTBOX_POLL_SECONDS": "0.05",
        "DISPATCH_INTERVAL_SECONDS": "0.1",
        "DISPATCH_LEASE_SECONDS": "2",
        "SUPPLIER_TIMEOUT_SECONDS": "10",
    }
    gateway = GatewayProcess(env, tmp_path / "gateway.log")
    broker = Broker(broker_namespace.amqp_url, broker_namespace.exchange)
    await broker.connect()
    try:
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5, headers=bearer()) as api,
            httpx.AsyncClient(base_url=supplier_url, timeout=5) as supplier,
        ):

            async def ready() -> bool:
                return consuming(await api.get("/readyz"))

            gateway.start()
            await wait_until(ready)
            registered = await api.put(
                "/suppliers/acme", json={"protocol": "http", "base_url": supplier_url, "signing_secret": SECRET}
            )
            assert registered.status_code == 200
            # the supplier holds our request for 2 s before taking the PO: we die meanwhile
            await supplier.post("/admin/faults", json={"delay_seconds": 2.0, "delay_next": 1})
            await broker.publish(Envelope.wrap(REQUESTED, "crash-test"))

            async def leased() -> bool:
                response = await api.get("/purchase-orders/PO-CRASH-1")
                return response.status_code == 200 and response.json()["dispatch"]["send_attempts"] == 1

            await wait_until(leased)
            await asyncio.sleep(0.5)
            gateway.kill()

            async def supplier_has_it() -> bool:
                return (await supplier.get("/admin/purchase-orders/PO-CRASH-1")).status_code == 200

            await wait_until(supplier_has_it)  # the supplier took it; we never recorded its answer
            assert placed_events == []

            gateway.start()
            await wait_until(ready)

            async def sent() -> bool:
                response = await api.get("/purchase-orders/PO-CRASH-1")
                return response.json()["state"] == "sent"

            await wait_until(sent)
            order = (await supplier.get("/admin/purchase-orders/PO-CRASH-1")).json()
            assert order["receipts"] == 2  # sent twice under one key ...
            assert len((await supplier.get("/admin/purchase-orders")).json()["orders"]) == 1  # ... one order
            outcomes = [
                r["outcome"]
                for r in (await supplier.get("/admin/requests")).json()["requests"]
                if r["idempotency_key"] == "PO-CRASH-1"
            ]
            assert outcomes == ["processed", "replayed"]
            po = (await api.get("/purchase-orders/PO-CRASH-1")).json()
            assert po["supplier_order_id"] == order["supplier_order_id"]
            assert po["dispatch"]["send_attempts"] == 2

            async def announced_once() -> bool:
                return len(placed_events) == 1

            await wait_until(announced_once)
            await asyncio.sleep(0.3)
            assert len(placed_events) == 1
    finally:
        gateway.stop()
        await broker.close()
