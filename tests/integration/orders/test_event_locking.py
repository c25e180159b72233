"""Events naming many orders in any order, handled concurrently: no deadlock, no collision, every change once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from test_customer_journey_store import SHIP_TO, count, po_line

from dropship_shared.db import create_engine, session_factory
from dropship_shared.events import BatchReleaseExpected, Envelope, PurchaseOrderRequested, utcnow
from dropship_shared.migrations import upgrade_to_head
from orders.adapters.orm import inbox, outbox, supplier_release_estimates
from orders.bootstrap import MIGRATIONS
from orders.domain.model import Product, RequestedLine
from orders.service_layer import event_handlers, handlers
from orders.service_layer.handlers import UnitOfWorkFactory
from orders.service_layer.unit_of_work import OrdersUnitOfWork

ORDERS = 6
LINES_PER_ORDER = 3
TABLE = Product("TABLE", "Table", "globex", "GX-9", Decimal("500"), Decimal("210"), 0, lead_time_days=10)


async def deadlocks(database_url: str) -> int:
    """PostgreSQL's count of deadlocks detected in this database (its statistics, read afresh)."""
    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        await connection.execute(text("SELECT pg_stat_clear_snapshot()"))
        found = await connection.scalar(
            text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        )
    await engine.dispose()
    return int(found or 0)


@pytest.fixture
async def uow_and_url(database_url: str) -> AsyncIterator[tuple[UnitOfWorkFactory, str]]:
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)

    def factory() -> OrdersUnitOfWork:
        return OrdersUnitOfWork(sessions, outbox, inbox)

    await handlers.upsert_products(factory, [TABLE])
    yield factory, database_url
    await engine.dispose()


async def test_concurrent_events_over_shared_orders_never_deadlock(
    uow_and_url: tuple[UnitOfWorkFactory, str],
) -> None:
    uow, database_url = uow_and_url
    postgres = not database_url.startswith("sqlite")
    before = await deadlocks(database_url) if postgres else 0
    order_ids = []
    for _ in range(ORDERS):
        placed = await handlers.place_order(
            uow, handlers.PlaceOrder("ann@example.com", SHIP_TO, [RequestedLine("TABLE", 1)] * LINES_PER_ORDER), "c"
        )
        order_ids.append(placed.order.order_id)
    line_ids = [f"{order_id}-{n}" for order_id in order_ids for n in range(1, LINES_PER_ORDER + 1)]
    shuffle = random.Random(15)

    # Every event names every order, each in its own order; the supplier's estimate row does not exist yet.
    estimates = [
        Envelope.wrap(
            BatchReleaseExpected(
                supplier_id="globex",
                expected_release_at=utcnow() + timedelta(days=2 + n),
                backorder_line_ids=shuffle.sample(line_ids, len(line_ids)),
            ),
            "c",
        )
        for n in range(24)
    ]
    await asyncio.gather(*(event_handlers.on_batch_release_expected(uow, envelope) for envelope in estimates))

    # Then POs, each taking one line of every order, lines listed in a shuffled order.
    purchase_orders = []
    for n in range(1, LINES_PER_ORDER + 1):
        lines = [po_line(order_id, n, 1) for order_id in order_ids]
        shuffle.shuffle(lines)
        purchase_orders.append(
            Envelope.wrap(
                PurchaseOrderRequested(
                    po_number=f"PO{n}", supplier_id="globex", currency="USD", release_reason="min_units", lines=lines
                ),
                "c",
            )
        )
    await asyncio.gather(*(event_handlers.on_purchase_order_requested(uow, envelope) for envelope in purchase_orders))

    for order_id in order_ids:
        order = await handlers.get_order(uow, order_id)
        assert [line.status.value for line in order.lines] == ["on_purchase_order"] * LINES_PER_ORDER
        assert [line.po_number for line in order.lines] == [f"PO{n}" for n in range(1, LINES_PER_ORDER + 1)]
    assert await count(uow, inbox) == len(estimates) + len(purchase_orders)
    assert await count(uow, supplier_release_estimates) == 1
    if postgres:
        assert await deadlocks(database_url) == before
