"""The gateway's dispatch leases on SQLite and PostgreSQL, two dispatchers (replicas) on one database and the
supplier simulator over real HTTP: a lease is short and renewed while its PO is being sent, so a dead replica's
PO goes to another replica within about the lease, a live replica keeps its PO through a supplier call longer
than the lease, and a replica whose PO was taken over stops and records nothing. Never two sends of one PO by
live replicas (the supplier counts every receipt)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from test_gateway_crash import REQUESTED, SECRET  # one requested PO of one line, the simulator's secret

from dropship_shared.db import create_engine, session_factory
from dropship_shared.events import utcnow
from dropship_shared.migrations import upgrade_to_head
from dropship_shared.unit_of_work import UnitOfWorkFactory
from supplier_gateway.adapters.http_channel import HttpPurchaseOrderChannel
from supplier_gateway.adapters.http_supplier import HttpSupplierClient, HttpSupplierConfig
from supplier_gateway.adapters.orm import inbox, outbox, purchase_orders
from supplier_gateway.adapters.secret_box import SecretBox
from supplier_gateway.adapters.x12_transport import HttpDocumentChannel
from supplier_gateway.domain.purchase_order import PurchaseOrder
from supplier_gateway.domain.supplier import Supplier, SupplierProtocol, TradingPartner
from supplier_gateway.service_layer.cancellations import CancellationPolicy, LineCancellationResolver
from supplier_gateway.service_layer.dispatcher import DispatchPolicy, PurchaseOrderDispatcher
from supplier_gateway.service_layer.edi_outbound import OurX12Identity, X12LineCancellation
from supplier_gateway.service_layer.supplier_port import Placement
from supplier_gateway.service_layer.unit_of_work import GatewayUnitOfWork
from supplier_simulator.app import create_app as create_simulator
from supplier_simulator.settings import SimulatorSettings
from support.polling import eventually, stays
from support.servers import run_uvicorn_app
from support.tokens import SUPPLIER_SECRETS_KEY

MIGRATIONS = Path(__file__).parents[3] / "services/supplier-gateway/supplier_gateway/migrations"
PO_NUMBER = REQUESTED.po_number
LEASE_SECONDS = 1.5  # renewed every 0.5 s


@dataclass(frozen=True)
class Dispatch:
    """What the database says of the PO's sending."""

    state: str
    lease_owner: str | None
    send_attempts: int
    supplier_order_id: str | None
    placed_events: int


@pytest.fixture
def supplier_url() -> Iterator[str]:
    settings = SimulatorSettings(
        secret=SECRET,
        supplier_id="acme",
        callback_url="http://127.0.0.1:9/suppliers/{supplier_id}/callbacks",  # no callbacks: nothing acknowledges
        auto_ack=False,
        auto_ship_after_seconds=-1,
    )
    with run_uvicorn_app(create_simulator(settings)) as url:
        yield url


@pytest.fixture
async def supplier(supplier_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=supplier_url, timeout=10) as client:
        yield client


@pytest.fixture
async def uow_factory(database_url: str, supplier_url: str) -> AsyncIterator[UnitOfWorkFactory[GatewayUnitOfWork]]:
    """A migrated database holding the supplier and one requested PO."""
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    secrets = SecretBox(SUPPLIER_SECRETS_KEY)

    def factory() -> GatewayUnitOfWork:
        return GatewayUnitOfWork(sessions, outbox, inbox, secrets=secrets)

    async with factory() as uow:
        acme = Supplier("acme", "ACME", SupplierProtocol.HTTP, supplier_url, SECRET, timeout_seconds=120.0)
        await uow.suppliers.upsert(acme, utcnow())
        await uow.purchase_orders.add(PurchaseOrder.request(REQUESTED, utcnow(), "corr-lease"))
        await uow.commit()
    yield factory
    await engine.dispose()


async def no_x12(supplier: Supplier, po: PurchaseOrder) -> Placement:
    raise AssertionError("these tests place over HTTP only")


@pytest.fixture
async def replicas(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork],
) -> AsyncIterator[dict[str, PurchaseOrderDispatcher]]:
    """Two dispatchers on the one database, as two gateway replicas (each its own supplier client)."""
    policy = DispatchPolicy(interval_seconds=0.1, lease_seconds=LEASE_SECONDS)
    clients = [HttpSupplierClient(config=HttpSupplierConfig(timeout=120.0)) for _ in range(2)]
    yield {
        owner: PurchaseOrderDispatcher(uow_factory, HttpPurchaseOrderChannel(client), no_x12, policy, owner)
        for owner, client in zip(("replica-a", "replica-b"), clients, strict=True)
    }
    for client in clients:
        await client.aclose()


async def dispatch(uow_factory: UnitOfWorkFactory[GatewayUnitOfWork]) -> Dispatch:
    async with uow_factory() as uow:
        row = (
            await uow.session.execute(
                select(
                    purchase_orders.c.state,
                    purchase_orders.c.lease_owner,
                    purchase_orders.c.send_attempts,
                    purchase_orders.c.supplier_order_id,
                ).where(purchase_orders.c.po_number == PO_NUMBER)
            )
        ).one()
        placed = await uow.session.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.event_type == "purchase_order.placed")
        )
    return Dispatch(row.state, row.lease_owner, row.send_attempts, row.supplier_order_id, int(placed or 0))


async def receipts(supplier: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every placement request the supplier received for the PO (its idempotency key)."""
    log = (await supplier.get("/admin/requests")).json()["requests"]
    return [entry for entry in log if entry["idempotency_key"] == PO_NUMBER]


@contextlib.asynccontextmanager
async def running(dispatcher: PurchaseOrderDispatcher) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(dispatcher.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def polled(uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], accept: Any, timeout: float = 60.0) -> Dispatch:
    """Poll the database until `accept` takes what it says of the PO (a generous deadline: a busy machine)."""
    deadline = time.monotonic() + timeout
    while not accept(seen := await dispatch(uow_factory)):
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout}s; last seen: {seen!r}")
        await asyncio.sleep(0.1)
    return seen


async def test_a_live_replica_keeps_its_po_through_a_supplier_call_longer_than_the_lease(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork],
    replicas: dict[str, PurchaseOrderDispatcher],
    supplier: httpx.AsyncClient,
) -> None:
    # the supplier holds the first request three leases long before it takes the PO
    await supplier.post("/admin/faults", json={"delay_seconds": 3 * LEASE_SECONDS, "delay_next": 1})
    async with running(replicas["replica-a"]):
        await polled(uow_factory, lambda d: d.lease_owner == "replica-a")
        async with running(replicas["replica-b"]):
            placed = await polled(uow_factory, lambda d: d.state == "sent")
    assert placed.send_attempts == 1  # replica-b never claimed it: each claim counts an attempt
    assert placed.placed_events == 1
    sent = await receipts(supplier)
    assert [entry["outcome"] for entry in sent] == ["processed"]
    order = (await supplier.get(f"/admin/purchase-orders/{PO_NUMBER}")).json()
    assert order["receipts"] == 1
    assert placed.supplier_order_id == order["supplier_order_id"]


async def test_a_dead_replica_lets_its_po_go_to_another_within_about_the_lease(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork],
    replicas: dict[str, PurchaseOrderDispatcher],
    supplier: httpx.AsyncClient,
) -> None:
    await supplier.post("/admin/faults", json={"delay_seconds": 2 * LEASE_SECONDS, "delay_next": 1})
    async with running(replicas["replica-a"]):
        await polled(uow_factory, lambda d: d.lease_owner == "replica-a")
    # replica-a is gone mid-call (its renewals with it), its lease left in the database as a kill -9 leaves it
    assert (await dispatch(uow_factory)).lease_owner == "replica-a"
    async with running(replicas["replica-b"]):
        # well under the 300 s of a lease that is not renewed; the generous deadline is for a busy machine
        placed = await polled(uow_factory, lambda d: d.state == "sent")
    assert placed.send_attempts == 2
    assert placed.placed_events == 1
    orders = (await supplier.get("/admin/purchase-orders")).json()["orders"]
    assert [order["po_number"] for order in orders] == [PO_NUMBER]  # one order, whichever request came first
    assert placed.supplier_order_id == orders[0]["supplier_order_id"]


async def test_a_replica_whose_po_was_taken_over_stops_and_records_nothing(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork],
    replicas: dict[str, PurchaseOrderDispatcher],
    supplier: httpx.AsyncClient,
) -> None:
    # the supplier would answer in 90 s: longer than the deadline below, so only the renewal can end the call
    await supplier.post("/admin/faults", json={"delay_seconds": 90, "delay_next": 1})
    replica = replicas["replica-a"]
    async with running(replica):
        await polled(uow_factory, lambda d: d.lease_owner == "replica-a")
        # another replica took it over (as after a lease that ran out while this one was stalled)
        async with uow_factory() as uow:
            await uow.session.execute(
                update(purchase_orders)
                .where(purchase_orders.c.po_number == PO_NUMBER)
                .values(lease_owner="replica-b", lease_expires_at=utcnow() + timedelta(hours=1))
            )
            await uow.commit()
        await eventually(lambda: replica.held, lambda held: PO_NUMBER not in held)
        # its call to the supplier was cancelled, and nothing of it gets recorded, however long we look
        await stays(lambda: replica.held, lambda held: not held, seconds=4 * LEASE_SECONDS)
    after = await dispatch(uow_factory)
    assert (after.state, after.lease_owner, after.send_attempts, after.placed_events) == (
        "requested",
        "replica-b",
        1,
        0,
    )


async def test_a_line_cancellation_answered_to_two_replicas_is_recorded_once(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork],
    replicas: dict[str, PurchaseOrderDispatcher],
    supplier: httpx.AsyncClient,
) -> None:
    """A cancel request's lease is not renewed: a supplier call longer than it lets a second replica ask again.
    The supplier answers both from the first receipt of the request's Idempotency-Key; the gateway records
    the answer once (one unit cancelled of two, one event), whichever replica comes second."""
    await replicas["replica-a"].drain()
    assert (await dispatch(uow_factory)).state == "sent"
    line = REQUESTED.lines[0]
    async with uow_factory() as uow:
        assert line.backorder_line_id is not None
        await uow.cancellations.add(
            PO_NUMBER, "acme", line.backorder_line_id, line.line_no, 1, "cancel-event-1", utcnow()
        )
        [request] = await uow.cancellations.claim_due(utcnow(), timedelta(seconds=LEASE_SECONDS), 10)
        await uow.commit()
    client = HttpSupplierClient(config=HttpSupplierConfig(timeout=30.0))
    us = OurX12Identity(TradingPartner("ZZ", "DROPSHIPBUYER", "DROPSHIPBUYER"), "Dropship")
    resolver = LineCancellationResolver(
        uow_factory,
        HttpPurchaseOrderChannel(client),
        CancellationPolicy(),
        X12LineCancellation(uow_factory, HttpDocumentChannel(client), us),
    )
    try:
        for _replica in ("replica-a", "replica-b"):  # each with the request as it claimed it
            await resolver.resolve(request)
    finally:
        await client.aclose()
    asked = [
        entry
        for entry in (await supplier.get("/admin/requests")).json()["requests"]
        if entry["idempotency_key"] == f"{PO_NUMBER}:cancel:cancel-event-1"
    ]
    assert len(asked) <= 2  # the second replica may ask again; never a third time
    async with uow_factory() as uow:
        po = await uow.purchase_orders.get(PO_NUMBER)
        resolved = await uow.session.scalar(
            select(func.count())
            .select_from(outbox)
            .where(outbox.c.event_type == "purchase_order.line_cancellation_resolved")
        )
    assert po is not None
    assert po.lines[0].cancelled_qty == 1
    assert resolved == 1
