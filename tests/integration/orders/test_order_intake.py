"""Orders on SQLite and PostgreSQL: migrations, repositories, concurrent intake that never oversells."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from dropship_shared.db import create_engine, session_factory
from dropship_shared.events import Address, Envelope, ShipmentUpdated, ShippedLine, utcnow
from dropship_shared.migrations import upgrade_to_head
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.adapters.orm import inbox, outbox, products
from orders.bootstrap import MIGRATIONS
from orders.domain.model import Product, RequestedLine
from orders.service_layer import event_handlers, handlers
from orders.service_layer.unit_of_work import OrdersUnitOfWork

SHIP_TO = Address(name="Ann", address_lines=["1 Main St"], city="Springfield", postal_code="62701", country="US")


@pytest.fixture
async def uow(database_url: str) -> AsyncIterator[UnitOfWorkFactory[OrdersUnitOfWork]]:
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    yield lambda: OrdersUnitOfWork(sessions, outbox, inbox)
    await engine.dispose()


async def outbox_types(factory: UnitOfWorkFactory[OrdersUnitOfWork]) -> list[str]:
    async with factory() as unit:
        return list(await unit.session.scalars(select(outbox.c.event_type).order_by(outbox.c.id)))


async def test_concurrent_orders_never_oversell(uow: UnitOfWorkFactory[OrdersUnitOfWork]) -> None:
    await handlers.upsert_products(
        uow, [Product("LAMP", "Lamp", "acme", "AC-L", Decimal("30"), Decimal("12.5"), on_hand=10)]
    )

    async def buy(n: int) -> handlers.PlacedOrder:
        command = handlers.PlaceOrder(f"c{n}@example.com", SHIP_TO, [RequestedLine("LAMP", 1)])
        return await handlers.place_order(uow, command, correlation_id=f"c{n}")

    placed = await asyncio.gather(*(buy(n) for n in range(30)))
    allocated = sum(p.order.lines[0].allocated_qty for p in placed)
    backordered = sum(p.order.lines[0].backordered_qty for p in placed)
    assert (allocated, backordered) == (10, 20)
    async with uow() as unit:
        product = await unit.products.get("LAMP")
    assert product is not None and product.on_hand == 0
    assert (await outbox_types(uow)).count("backorder.created") == 20


async def test_idempotency_key_creates_the_order_once(uow: UnitOfWorkFactory[OrdersUnitOfWork]) -> None:
    await handlers.upsert_products(uow, [Product("SOFA", "Sofa", "acme", "AC-S", Decimal("900"), Decimal("400"), 0)])
    command = handlers.PlaceOrder("ann@example.com", SHIP_TO, [RequestedLine("SOFA", 1)], idempotency_key="k-1")
    first = await handlers.place_order(uow, command, "c")
    second = await handlers.place_order(uow, command, "c")
    assert first.created and not second.created
    assert first.order.order_id == second.order.order_id
    assert await outbox_types(uow) == ["backorder.created"]


async def test_shipment_update_applies_once_and_round_trips(uow: UnitOfWorkFactory[OrdersUnitOfWork]) -> None:
    await handlers.upsert_products(uow, [Product("SOFA", "Sofa", "acme", "AC-S", Decimal("900"), Decimal("400"), 0)])
    placed = await handlers.place_order(
        uow, handlers.PlaceOrder("ann@example.com", SHIP_TO, [RequestedLine("SOFA", 2)]), "c"
    )
    line_id = f"{placed.order.order_id}-1"
    envelope = Envelope.wrap(
        ShipmentUpdated(
            shipment_id="SH-1",
            po_number="PO1",
            supplier_id="acme",
            shipped_at=utcnow(),
            carrier_name="UPS",
            tracking_number="1Z999",
            lines=[ShippedLine(backorder_line_id=line_id, line_no=1, quantity=2)],
        ),
        "c",
    )
    await event_handlers.handle_event(uow, envelope)
    await event_handlers.handle_event(uow, envelope)  # redelivered
    order = await handlers.get_order(uow, placed.order.order_id)
    assert order.lines[0].status.value == "shipped"
    assert [(s.tracking_number, s.quantity) for s in order.lines[0].shipments] == [("1Z999", 2)]
    assert order.placed_at.tzinfo is not None
    async with uow() as unit:
        assert await unit.session.scalar(select(func.count()).select_from(inbox)) == 1


async def test_orders_of_an_out_of_stock_sku_do_not_queue_on_its_row(postgres_url: str) -> None:
    """PostgreSQL (SQLite has one writer anyway): a backorder changes no stock, so it takes no row lock."""
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), postgres_url)
    engine = create_engine(postgres_url)
    sessions = session_factory(engine)

    def factory() -> OrdersUnitOfWork:
        return OrdersUnitOfWork(sessions, outbox, inbox)

    await handlers.upsert_products(
        factory, [Product("SOFA", "Sofa", "acme", "AC-S", Decimal("900"), Decimal("400"), 0)]
    )
    try:
        async with factory() as holder:  # another transaction holds the product's row meanwhile
            await holder.session.execute(select(products).with_for_update())
            order = handlers.PlaceOrder("ann@example.com", SHIP_TO, [RequestedLine("SOFA", 1)])
            # Generous: it fails only if the order waits for the row (until the holder lets go, never).
            placed = await asyncio.wait_for(handlers.place_order(factory, order, "c"), timeout=120)
        assert placed.order.lines[0].backordered_qty == 1
    finally:
        await engine.dispose()
