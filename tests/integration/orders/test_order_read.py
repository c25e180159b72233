"""GET /orders/{id}'s read: everything the storefront is shown (shipments, promises, credits) as the full load
gives it, in one statement: a UNION ALL of the order joined with its lines and of their shipments, promises and
credits (none for the lines' status transitions)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from test_big_order import Statements
from test_customer_journey_store import deliver
from test_event_batches import events_over, place

from dropship_shared.events import AcknowledgedLine, PurchaseOrderAcknowledged, utcnow
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.domain.promise import PromiseRules
from orders.entrypoints.schemas import OrderOut
from orders.service_layer import event_handlers, handlers, views
from orders.service_layer.handlers import OrderNotFound
from orders.service_layer.unit_of_work import OrdersUnitOfWork


def slipped(order_id: str, days: int) -> PurchaseOrderAcknowledged:
    return PurchaseOrderAcknowledged(
        po_number="PO1",
        supplier_id="globex",
        status="partial",
        lines=[
            AcknowledgedLine(
                backorder_line_id=f"{order_id}-2",
                line_no=2,
                status="backordered",
                quantity=1,
                expected_ship_date=utcnow().date() + timedelta(days=days),
            )
        ],
    )


async def test_the_read_shows_what_the_full_load_shows_without_the_transitions(
    orders_database: tuple[UnitOfWorkFactory[OrdersUnitOfWork], AsyncEngine],
) -> None:
    uow, engine = orders_database
    order_ids = [await place(uow, 2) for _ in range(2)]
    await event_handlers.handle_events(uow, events_over(order_ids), PromiseRules())
    for days in (40, 60):  # the second line's promise slips far: a consolation credit
        await deliver(uow, slipped(order_ids[0], days))
    full = await handlers.get_order(uow, order_ids[0])
    assert full.lines[0].shipments and full.lines[1].credit is not None and len(full.lines[1].promises) >= 2

    watched = Statements(engine)
    read = await handlers.get_order(uow, order_ids[0], history=False)

    assert OrderOut.of(read) == OrderOut.of(full)
    assert all(not line.history for line in read.lines)
    # the order joined with its lines, UNION ALL line_shipments, line_promises, consolation_credits
    assert {kind: count for kind, count in watched.ran.items() if kind.startswith("SELECT")} == {"SELECT orders": 1}


async def test_reading_an_unknown_order_is_not_found(
    orders_database: tuple[UnitOfWorkFactory[OrdersUnitOfWork], AsyncEngine],
) -> None:
    uow, _ = orders_database
    with pytest.raises(OrderNotFound):
        await handlers.get_order(uow, "no-such-order", history=False)


async def test_reads_run_statements_built_once(
    orders_database: tuple[UnitOfWorkFactory[OrdersUnitOfWork], AsyncEngine],
) -> None:
    """Each read executes the same statement object, whatever the order: a statement built per read costs
    SQLAlchemy a new cache key (a walk over all its columns), about half of a read's CPU."""
    uow, engine = orders_database
    order_ids = [await place(uow, 2) for _ in range(2)]
    executed: list[list[Any]] = []  # the statement objects themselves (kept alive: no id is reused)

    def seen(_conn: Any, statement: Any, *_args: Any) -> None:
        executed[-1].append(statement)

    event.listen(engine.sync_engine, "before_execute", seen)
    for order_id in order_ids:
        executed.append([])
        await handlers.get_order(uow, order_id, history=False)
    event.remove(engine.sync_engine, "before_execute", seen)

    assert len(executed[0]) == len(executed[1]) == 1
    assert all(first is second for first, second in zip(executed[0], executed[1], strict=True))


async def test_the_payments_read_the_order_as_get_does(
    orders_database: tuple[UnitOfWorkFactory[OrdersUnitOfWork], AsyncEngine],
) -> None:
    uow, engine = orders_database
    order_id = await place(uow, 2)

    watched = Statements(engine)
    totals = await views.payments(uow, order_id)

    assert totals.authorized > 0
    assert {kind: count for kind, count in watched.ran.items() if kind.startswith("SELECT")} == {
        "SELECT orders": 1,  # with its lines, their shipments, promises and credits
        "SELECT payment_ledger": 1,
    }
