"""The SQLite engines make one trip to aiosqlite's thread per statement (`dropship_shared.sqlite_driver`), and what
a statement answers (rows, row counts, the last row id, errors) is what SQLAlchemy's own aiosqlite adapter answers."""

from __future__ import annotations

import queue
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiosqlite.core
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, insert, select, text, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from dropship_shared.db import create_engine, create_reader_engine
from dropship_shared.sqlite_driver import one_hop_url
from dropship_shared.transient import transient_kind

metadata = MetaData()
items = Table("items", metadata, Column("id", Integer, primary_key=True), Column("name", String(20)))


class CountedQueue(queue.SimpleQueue[Any]):
    """aiosqlite's queue to its thread: every trip there is one put."""

    puts = 0

    def put_nowait(self, item: Any) -> None:
        CountedQueue.puts += 1
        super().put_nowait(item)


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> type[CountedQueue]:
    """Trips to aiosqlite's thread of the connections opened from now on."""
    monkeypatch.setattr(aiosqlite.core, "SimpleQueue", CountedQueue)
    CountedQueue.puts = 0
    return CountedQueue


@pytest.fixture
async def engine(tmp_path: Path, trips: type[CountedQueue]) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/items.db")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


def counted_statements(engine: AsyncEngine) -> Callable[[], int]:
    statements = 0

    def count(*_args: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    return lambda: statements


async def test_each_statement_is_one_trip_to_the_database_thread(
    engine: AsyncEngine, trips: type[CountedQueue]
) -> None:
    statements = counted_statements(engine)
    trips.puts = 0
    async with engine.begin() as connection:  # BEGIN IMMEDIATE, a statement too
        await connection.execute(insert(items), [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])  # executemany
        await connection.execute(insert(items).values(id=3, name="c"))
        assert (await connection.execute(select(items.c.name).order_by(items.c.id))).scalars().all() == ["a", "b", "c"]
        renamed = await connection.execute(update(items).where(items.c.id > 1).values(name="z").returning(items.c.id))
        assert sorted(renamed.scalars()) == [2, 3]
    assert statements() == 5
    assert trips.puts == statements() + 1  # and the commit (the pool's rollback after it has nothing to undo)


async def outcomes(connection: AsyncConnection) -> list[Any]:
    """What SQLAlchemy hands back for statements of each kind."""
    inserted: CursorResult[Any] = await connection.execute(text("INSERT INTO items (name) VALUES ('a')"))
    many: CursorResult[Any] = await connection.execute(insert(items), [{"name": "b"}, {"name": "c"}])
    changed: CursorResult[Any] = await connection.execute(update(items).values(name="z"))
    returned = await connection.execute(insert(items).values(name="d").returning(items.c.id, items.c.name))
    read = await connection.execute(select(items).order_by(items.c.id))
    empty = await connection.execute(select(items).where(items.c.id < 0))
    pragma = await connection.execute(text("PRAGMA journal_mode"))
    return [
        (inserted.lastrowid, inserted.rowcount),
        many.rowcount,
        changed.rowcount,
        (list(returned.keys()), returned.all()),
        (list(read.keys()), read.all()),
        (list(empty.keys()), empty.all()),
        pragma.all(),
    ]


async def test_statements_answer_as_with_sqlalchemys_adapter(tmp_path: Path) -> None:
    answers = []
    for name, url in [("stock", f"sqlite+aiosqlite:///{tmp_path}/stock.db"), ("one_hop", None)]:
        engine = create_async_engine(url or one_hop_url(f"sqlite+aiosqlite:///{tmp_path}/{name}.db"))
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
            answers.append(await outcomes(connection))
        await engine.dispose()
    assert answers[0] == answers[1]
    assert answers[1][0] == (1, 1)


async def test_sqlite_errors_are_sqlalchemys_dbapi_errors(engine: AsyncEngine, tmp_path: Path) -> None:
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(insert(items), [{"id": 1}, {"id": 1}])
    async with engine.connect() as connection:
        assert (await connection.execute(select(items))).all() == []  # the first row rolled back
    impatient = create_async_engine(one_hop_url(f"sqlite:///{tmp_path}/items.db"), connect_args={"timeout": 0})
    async with engine.begin() as holder:  # BEGIN IMMEDIATE: the file's one writer
        await holder.execute(insert(items).values(id=2))
        with pytest.raises(DBAPIError) as raised:
            async with impatient.begin() as waiter:
                await waiter.execute(insert(items).values(id=3))
    await impatient.dispose()
    assert transient_kind(raised.value) == "sqlite_busy"


async def test_readers_refuse_writes(engine: AsyncEngine, tmp_path: Path) -> None:
    reader = create_reader_engine(f"sqlite+aiosqlite:///{tmp_path}/items.db")
    async with reader.connect() as connection:
        assert (await connection.execute(select(items))).all() == []
        with pytest.raises(DBAPIError, match="readonly database"):
            await connection.execute(insert(items).values(id=1))
    await reader.dispose()


async def test_streamed_results_still_read_from_a_server_side_cursor(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(items), [{"id": n, "name": str(n)} for n in range(1, 251)])
    async with engine.connect() as connection:
        streamed = await connection.stream(select(items.c.id).order_by(items.c.id))
        assert [row.id async for row in streamed] == list(range(1, 251))
