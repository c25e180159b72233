"""The reader sessions (`create_reader_engine`) GET /orders/{id} runs on: a read's only round trips are its
statement's (no BEGIN, ROLLBACK or ping before each read: each would be one more turn of the busy event loop to
wait for under a burst of events), and a pooled connection that died while resting is still replaced before a
read, not found by it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Generator
from typing import Any, TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from test_big_order import Statements
from test_event_batches import place

from dropship_shared import db
from dropship_shared.db import create_reader_engine, session_factory
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.adapters.orm import inbox, outbox
from orders.adapters.repository import ROWS_PER_TURN
from orders.domain.model import Order
from orders.service_layer import handlers
from orders.service_layer.unit_of_work import OrdersUnitOfWork
from support.infrastructure import backend_pid, counted_pings, terminate_backend

T = TypeVar("T")
LINES = 200
# Trips to the driver per statement: asyncpg sends and reads in one; aiosqlite's thread is asked to make the
# cursor, execute, fetch and close, each a trip.
TRIPS_PER_STATEMENT = {"postgresql": 1, "sqlite": 4}


class Suspensions:
    """Awaits a coroutine and counts the times it gave the loop back (each a wait for the loop's next turn)."""

    def __init__(self) -> None:
        self.count = 0

    def of(self, coroutine: Awaitable[T]) -> Awaitable[T]:
        counter = self

        class Counted:
            def __await__(self) -> Generator[Any, Any, T]:
                inner = coroutine.__await__()
                sent: Any = None
                while True:
                    try:
                        waited = inner.send(sent)
                    except StopIteration as done:
                        return done.value  # type: ignore[no-any-return]
                    counter.count += 1
                    sent = yield waited

        return Counted()


@pytest.fixture
async def reader(
    orders_database: tuple[UnitOfWorkFactory[OrdersUnitOfWork], AsyncEngine], database_url: str
) -> AsyncIterator[tuple[UnitOfWorkFactory[OrdersUnitOfWork], AsyncEngine]]:
    engine = create_reader_engine(database_url, pool_size=2)
    sessions = session_factory(engine)
    yield (lambda: OrdersUnitOfWork(sessions, outbox, inbox)), engine
    await engine.dispose()


async def read(uow: UnitOfWorkFactory[OrdersUnitOfWork], order_id: str) -> Order:
    return await handlers.get_order(uow, order_id, history=False)


async def test_a_read_makes_the_round_trips_of_its_one_statement_only(
    orders_database: tuple[UnitOfWorkFactory[OrdersUnitOfWork], AsyncEngine],
    reader: tuple[UnitOfWorkFactory[OrdersUnitOfWork], AsyncEngine],
) -> None:
    writer_uow, _ = orders_database
    reader_uow, engine = reader
    order_id = await place(writer_uow, 2)
    await read(reader_uow, order_id)  # the pool's connection opened, the statements prepared

    watched, suspensions = Statements(engine), Suspensions()
    order = await suspensions.of(read(reader_uow, order_id))

    assert len(order.lines) == 2
    assert list(watched.ran) == ["SELECT orders"]  # with its lines, their shipments, promises, credits; no BEGIN
    assert suspensions.count <= TRIPS_PER_STATEMENT[engine.dialect.name]  # no ping, no ROLLBACK


async def test_a_big_order_is_read_a_few_rows_per_turn_of_the_loop(
    orders_database: tuple[UnitOfWorkFactory[OrdersUnitOfWork], AsyncEngine],
    reader: tuple[UnitOfWorkFactory[OrdersUnitOfWork], AsyncEngine],
) -> None:
    """A 200-line order's rows are turned into its lines over several turns of the loop (the reads and events
    answered meanwhile wait a few milliseconds at a time), when it is read and when it is loaded to be changed."""
    writer_uow, _ = orders_database
    reader_uow, _ = reader
    small, big = await place(writer_uow, 1), await place(writer_uow, LINES)
    await read(reader_uow, small)

    suspensions = {order_id: Suspensions() for order_id in (small, big)}
    for order_id, counted in suspensions.items():
        assert len((await counted.of(read(reader_uow, order_id))).lines) in (1, LINES)
    loaded = Suspensions()
    async with writer_uow() as uow:
        assert len((await loaded.of(uow.orders.get_many([big])))[big].lines) == LINES

    # its rows (the lines, then each line's promise), then its lines: at least one turn per ROWS_PER_TURN of each
    assert suspensions[big].count - suspensions[small].count >= 3 * LINES // ROWS_PER_TURN
    assert loaded.count >= LINES // ROWS_PER_TURN


async def test_a_reader_connection_is_pinged_only_after_a_rest(
    orders_database: tuple[UnitOfWorkFactory[OrdersUnitOfWork], AsyncEngine],
    reader: tuple[UnitOfWorkFactory[OrdersUnitOfWork], AsyncEngine],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a SQLite connection is a file: nothing to lose while resting")
    writer_uow, _ = orders_database
    reader_uow, engine = reader
    order_id = await place(writer_uow, 1)
    pings = counted_pings(engine, monkeypatch)
    for _ in range(3):
        await read(reader_uow, order_id)
    assert pings == []  # back within the rest: not pinged

    monkeypatch.setattr(db, "PING_AFTER_REST_SECONDS", 0.0)
    await terminate_backend(database_url, await backend_pid(engine))  # the server drops the resting connection
    order = await read(reader_uow, order_id)

    assert order.order_id == order_id  # the read found a live connection
    assert pings  # the ping found the dead one and the pool replaced it
