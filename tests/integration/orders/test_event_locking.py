"""Events naming many orders in any order, handled concurrently: no deadlock, no collision, every change once."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from test_customer_journey_store import SHIP_TO, count, po_line

from dropship_shared.events import (
    BatchReleaseExpected,
    Envelope,
    PurchaseOrderRequested,
    ShipmentUpdated,
    ShippedLine,
    utcnow,
)
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.adapters.orm import inbox, supplier_release_estimates
from orders.domain.model import RequestedLine
from orders.service_layer import event_handlers, handlers
from orders.service_layer.unit_of_work import OrdersUnitOfWork

ORDERS = 6
LINES_PER_ORDER = 3


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


async def test_concurrent_events_over_shared_orders_never_deadlock(
    orders_database: tuple[UnitOfWorkFactory[OrdersUnitOfWork], AsyncEngine], database_url: str
) -> None:
    uow, engine = orders_database
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
    await asyncio.gather(*(event_handlers.handle_event(uow, envelope) for envelope in estimates))

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
    await asyncio.gather(*(event_handlers.handle_event(uow, envelope) for envelope in purchase_orders))

    for order_id in order_ids:
        order = await handlers.get_order(uow, order_id)
        assert [line.status.value for line in order.lines] == ["on_purchase_order"] * LINES_PER_ORDER
        assert [line.po_number for line in order.lines] == [f"PO{n}" for n in range(1, LINES_PER_ORDER + 1)]
    assert await count(uow, inbox) == len(estimates) + len(purchase_orders)
    assert await count(uow, supplier_release_estimates) == 1
    if postgres:
        await engine.dispose()  # its backends end and report their statistics
        assert await deadlocks(database_url) == before


async def test_a_shipment_handled_before_its_po_event_still_shows_the_po(
    orders_database: tuple[UnitOfWorkFactory[OrdersUnitOfWork], AsyncEngine],
) -> None:
    uow, _engine = orders_database
    placed = await handlers.place_order(
        uow, handlers.PlaceOrder("ann@example.com", SHIP_TO, [RequestedLine("TABLE", 2)]), "c"
    )
    order_id = placed.order.order_id
    shipment = ShipmentUpdated(
        shipment_id="S1",
        po_number="PO7",
        supplier_id="globex",
        shipped_at=utcnow(),
        carrier_name="UPS",
        tracking_number="1Z7",
        lines=[ShippedLine(backorder_line_id=f"{order_id}-1", line_no=1, quantity=2)],
    )
    await event_handlers.handle_event(uow, Envelope.wrap(shipment, "c"))
    requested = PurchaseOrderRequested(
        po_number="PO7",
        supplier_id="globex",
        currency="USD",
        release_reason="min_units",
        lines=[po_line(order_id, 1, 2)],
    )
    await event_handlers.handle_event(uow, Envelope.wrap(requested, "c"))

    [line] = (await handlers.get_order(uow, order_id)).lines
    assert (line.status.value, line.po_number) == ("shipped", "PO7")
