"""The gateway's repositories and migrations on SQLite and PostgreSQL: round trips, leases that keep two
replicas from sending one PO, and X12 control numbers that are never handed out twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from dropship_shared.db import create_engine, session_factory
from dropship_shared.events import Address, PurchaseOrderLine, PurchaseOrderRequested, utcnow
from dropship_shared.migrations import upgrade_to_head
from dropship_shared.unit_of_work import UnitOfWorkFactory
from supplier_gateway.adapters.orm import inbox, outbox
from supplier_gateway.adapters.secret_box import SecretBox
from supplier_gateway.domain.purchase_order import LineStatus, PurchaseOrder, PurchaseOrderState
from supplier_gateway.domain.supplier import Supplier, SupplierProtocol, TradingPartner
from supplier_gateway.domain.supplier_messages import (
    AcknowledgedLineStatus,
    Acknowledgement,
    AcknowledgementStatus,
    LineAcknowledgement,
    Package,
    PackedLine,
    ShipmentNotice,
)
from supplier_gateway.service_layer.unit_of_work import GatewayUnitOfWork
from support.tokens import SUPPLIER_SECRETS_KEY

MIGRATIONS = Path(__file__).parents[3] / "services/supplier-gateway/supplier_gateway/migrations"
ADDRESS = Address(
    name="Ann", address_lines=["1 Main St", "Apt 2"], city="Springfield", postal_code="12345", country="US"
)


def requested(po_number: str, supplier_id: str = "acme") -> PurchaseOrder:
    return PurchaseOrder.request(
        PurchaseOrderRequested(
            po_number=po_number,
            supplier_id=supplier_id,
            currency="USD",
            release_reason="minimum_reached",
            lines=[
                PurchaseOrderLine(
                    line_no=n,
                    backorder_line_id=f"O{n}-1" if n < 3 else None,
                    sku=f"SKU-{n}",
                    supplier_sku=f"A-{n}",
                    quantity=n + 1,
                    unit_cost=Decimal("12.3450"),
                    ship_to=ADDRESS,
                    customer_ref=f"O{n}/1",
                )
                for n in (1, 2, 3)
            ],
        ),
        utcnow(),
        "corr-1",
    )


@pytest.fixture
async def uow_factory(database_url: str) -> AsyncIterator[UnitOfWorkFactory[GatewayUnitOfWork]]:
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    secrets = SecretBox(SUPPLIER_SECRETS_KEY)
    yield lambda: GatewayUnitOfWork(sessions, outbox, inbox, secrets=secrets)
    await engine.dispose()


async def test_suppliers_round_trip(uow_factory: UnitOfWorkFactory[GatewayUnitOfWork]) -> None:
    x12 = Supplier(
        supplier_id="edi",
        name="EDI Co",
        protocol=SupplierProtocol.X12,
        base_url="http://edi.example/inbox",
        signing_secret="s" * 20,
        requests_per_second=None,
        x12_partner=TradingPartner("ZZ", "EDICO", "EDICOGS"),
    )
    http = Supplier("acme", "Acme", SupplierProtocol.HTTP, "http://acme", "t" * 20, polling=True, timeout_seconds=3)
    async with uow_factory() as uow:
        await uow.suppliers.upsert(x12, utcnow())
        await uow.suppliers.upsert(http, utcnow())
        await uow.commit()
    async with uow_factory() as uow:
        await uow.suppliers.upsert(Supplier(**{**http.__dict__, "name": "Acme Inc"}), utcnow())
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.suppliers.get("edi") == x12
        assert [s.name for s in await uow.suppliers.all()] == ["Acme Inc", "EDI Co"]
        assert [s.supplier_id for s in await uow.suppliers.polling()] == ["acme"]
        assert await uow.suppliers.get("nobody") is None


async def test_a_purchase_order_round_trips_through_its_whole_life(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork],
) -> None:
    po = requested("PO-1")
    async with uow_factory() as uow:
        await uow.purchase_orders.add(po)
        await uow.commit()
    async with uow_factory() as uow:
        loaded = await uow.purchase_orders.get("PO-1", for_update=True)
        assert loaded is not None
        assert loaded.lines == po.lines
        assert loaded.lines[0].unit_cost == Decimal("12.3450")
        assert loaded.correlation_id == "corr-1"
        assert loaded.created_at.tzinfo is not None
        now = utcnow()
        loaded.mark_placed("SO-1", now)
        loaded.acknowledge(
            Acknowledgement(
                "PO-1",
                AcknowledgementStatus.PARTIAL,
                [
                    LineAcknowledgement(1, AcknowledgedLineStatus.BACKORDERED, 2, date(2026, 12, 24)),
                    LineAcknowledgement(3, AcknowledgedLineStatus.REJECTED, 4, reason="discontinued"),
                ],
            ),
            now,
        )
        loaded.record_shipment(
            ShipmentNotice(
                "SH-1", "PO-1", now, "UPS", [Package("1Z1", [PackedLine(2, 3)], "https://t/1Z1")], "UPSN", "Ground"
            ),
            now,
        )
        await uow.purchase_orders.save(loaded)
        await uow.commit()
    async with uow_factory() as uow:
        again = await uow.purchase_orders.get("PO-1")
        assert again is not None
        assert again.state is PurchaseOrderState.PARTIALLY_SHIPPED
        assert again.supplier_order_id == "SO-1"
        assert again.acknowledgement == "partial"
        assert [line.status for line in again.lines] == [
            LineStatus.BACKORDERED,
            LineStatus.SHIPPED,
            LineStatus.REJECTED,
        ]
        assert again.lines[0].expected_ship_date == date(2026, 12, 24)
        assert again.shipment_ids == {"SH-1"}
        assert [change.state for change in again.history] == [
            PurchaseOrderState.REQUESTED,
            PurchaseOrderState.SENT,
            PurchaseOrderState.ACKNOWLEDGED,
            PurchaseOrderState.PARTIALLY_SHIPPED,
        ]
        listed = await uow.purchase_orders.search(PurchaseOrderState.PARTIALLY_SHIPPED, "acme", 10)
        assert [p.po_number for p in listed] == ["PO-1"]
        assert await uow.purchase_orders.search(PurchaseOrderState.FAILED, None, 10) == []


async def test_two_replicas_never_claim_the_same_purchase_order(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork],
) -> None:
    async with uow_factory() as uow:
        for n in range(30):
            await uow.purchase_orders.add(requested(f"PO-{n:02}"))
        await uow.commit()
    now = utcnow()

    async def replica(name: str) -> list[str]:
        claimed: list[str] = []
        while True:
            async with uow_factory() as uow:
                batch = await uow.dispatch.claim_due("acme", name, now, timedelta(seconds=60), 4)
                await uow.commit()
            if not batch:
                return claimed
            claimed.extend(batch)

    first, second, third = await asyncio.gather(replica("a"), replica("b"), replica("c"))
    assert sorted(first + second + third) == [f"PO-{n:02}" for n in range(30)]
    assert len(set(first) | set(second) | set(third)) == 30
    async with uow_factory() as uow:
        assert await uow.dispatch.suppliers_with_due_orders(now) == []
        # the lease runs out (the replica died): the PO is due again, for anyone
        later = now + timedelta(seconds=61)
        assert await uow.dispatch.suppliers_with_due_orders(later) == ["acme"]


async def test_a_postponed_po_waits_and_a_released_one_is_due_again(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork],
) -> None:
    async with uow_factory() as uow:
        await uow.purchase_orders.add(requested("PO-A"))
        await uow.commit()
    now = utcnow()
    async with uow_factory() as uow:
        assert await uow.dispatch.claim_due("acme", "a", now, timedelta(seconds=60), 10) == ["PO-A"]
        await uow.dispatch.release("PO-A", "someone-else", now + timedelta(hours=1), "not mine")
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.dispatch.claim_due("acme", "b", now, timedelta(seconds=60), 10) == []
        await uow.dispatch.release("PO-A", "a", now + timedelta(seconds=30), "supplier down")
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.dispatch.claim_due("acme", "b", now, timedelta(seconds=60), 10) == []
        status = await uow.dispatch.status("PO-A")
        assert status is not None and status.last_error == "supplier down" and status.send_attempts == 1
        assert not status.leased(now)
        claimed = await uow.dispatch.claim_due("acme", "b", now + timedelta(seconds=31), timedelta(1), 10)
        assert claimed == ["PO-A"]


async def test_x12_control_numbers_are_unique_under_concurrency(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork],
) -> None:
    async def next_number(supplier_id: str) -> int:
        async with uow_factory() as uow:
            number = await uow.x12.next_control_number(supplier_id)
            await uow.commit()
            return number

    numbers = await asyncio.gather(*(next_number("edi") for _ in range(25)))
    assert sorted(numbers) == list(range(1, 26))
    assert await next_number("other") == 1


async def test_supplier_event_ids_are_recorded_once(uow_factory: UnitOfWorkFactory[GatewayUnitOfWork]) -> None:
    at = datetime.now(UTC)
    async with uow_factory() as uow:
        assert await uow.supplier_events.record("acme", "ev-1", "shipment", "PO-1", at) is True
        assert await uow.supplier_events.record("other", "ev-1", "shipment", "PO-1", at) is True
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.supplier_events.record("acme", "ev-1", "shipment", "PO-1", at) is False
        assert await uow.supplier_events.seen("acme", "ev-1")
        assert not await uow.supplier_events.seen("acme", "ev-2")
