"""`insert_many` on PostgreSQL (the rows as one array per column to `INSERT ... SELECT FROM unnest`): one execution
per call; on SQLite (the driver's executemany of plain tuples, each value through its column's bind step): one
executemany; on both, the rows stored exactly as SQLAlchemy's executemany of the same rows stores them, for every
column type the services use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import JSON, Boolean, Column, Integer, MetaData, String, Table, event, false, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from dropship_shared.db import insert_many, session_factory
from support.column_values import VALUES_BY_TYPE, engine_with

metadata = MetaData()
TABLES = {
    (kind, path): Table(
        f"{kind}_{path}", metadata, Column("id", Integer, primary_key=True), Column("value", type_, nullable=True)
    )
    for kind, (type_, _values) in VALUES_BY_TYPE.items()
    for path in ("unnest", "executemany")
}
# Columns the rows do not name: a Python-side default and a server default, filled as an executemany fills them.
items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False),
    Column("flagged", Boolean, nullable=False, default=True),
    Column("held", Boolean, nullable=False, server_default=false()),
    Column("details", JSON, nullable=True),
)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with engine_with(metadata, database_url) as created:
        yield created


def _watch_executions(engine: AsyncEngine) -> list[bool]:
    """Each INSERT the engine runs from now on, as whether it is an executemany."""
    executions: list[bool] = []

    def _count(_connection: Any, _cursor: Any, statement: str, _parameters: Any, _context: Any, many: bool) -> None:
        if statement.startswith("INSERT"):
            executions.append(many)

    event.listen(engine.sync_engine, "before_cursor_execute", _count)
    return executions


@pytest.mark.parametrize("kind", sorted(VALUES_BY_TYPE))
async def test_rows_are_stored_as_an_executemany_stores_them(engine: AsyncEngine, kind: str) -> None:
    rows = [{"id": number, "value": value} for number, value in enumerate(VALUES_BY_TYPE[kind][1])]
    executions = _watch_executions(engine)
    async with session_factory(engine)() as session, session.begin():
        await insert_many(session, TABLES[kind, "unnest"], rows)
        await session.execute(insert(TABLES[kind, "executemany"]), rows)

    assert executions[0] == (engine.dialect.name == "sqlite")  # one execution: an executemany on SQLite

    async with session_factory(engine)() as session:
        stored = {
            path: (await session.execute(select(TABLES[kind, path]).order_by(TABLES[kind, path].c.id))).all()
            for path in ("unnest", "executemany")
        }
        # and as the database keeps them (a timestamp's text on SQLite, say), not only as read back
        kept = {
            path: (await session.execute(text(f"SELECT CAST(value AS TEXT) FROM {kind}_{path} ORDER BY id"))).all()
            for path in ("unnest", "executemany")
        }
    assert stored["unnest"] == stored["executemany"]
    assert kept["unnest"] == kept["executemany"]
    assert len(stored["unnest"]) == len(rows)


async def test_many_rows_go_in_one_execution_columns_not_named_take_their_defaults(engine: AsyncEngine) -> None:
    rows = [{"id": number, "name": f"item {number}", "details": {"n": number}} for number in range(20)]
    executions = _watch_executions(engine)
    async with session_factory(engine)() as session, session.begin():
        await insert_many(session, items, rows)

    assert executions == [engine.dialect.name == "sqlite"]  # on SQLite, SQLAlchemy's executemany fills `flagged`
    async with session_factory(engine)() as session:
        stored = (await session.execute(select(items).order_by(items.c.id))).all()
    assert [tuple(row) for row in stored] == [
        (number, f"item {number}", True, False, {"n": number}) for number in range(20)
    ]


async def test_duplicates_ignored_and_the_inserted_returned(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as session, session.begin():
        first = await insert_many(
            session, items, [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}], returning=items.c.id
        )
        again = await insert_many(
            session,
            items,
            [{"id": 2, "name": "second two"}, {"id": 3, "name": "three"}, {"id": 3, "name": "third three"}],
            ignore_duplicates=True,
            returning=items.c.id,
        )
        nothing = await insert_many(session, items, [], ignore_duplicates=True, returning=items.c.id)
        unreturned = await insert_many(session, items, [{"id": 4, "name": "four"}], ignore_duplicates=True)

    assert sorted(first) == [1, 2]
    assert again == [3]
    assert nothing == [] and unreturned == []
    async with session_factory(engine)() as session:
        names = {row.id: row.name for row in await session.execute(select(items.c.id, items.c.name))}
    assert names == {1: "one", 2: "two", 3: "three", 4: "four"}


async def test_duplicates_ignored_among_plain_rows(engine: AsyncEngine) -> None:
    """Rows whose columns SQLAlchemy adds nothing to (SQLite's plain executemany): a key taken before or earlier in
    the same call is skipped."""
    table = TABLES["string", "unnest"]
    async with session_factory(engine)() as session, session.begin():
        await insert_many(session, table, [{"id": 1, "value": "first"}])
        await insert_many(
            session,
            table,
            [{"id": 1, "value": "again"}, {"id": 2, "value": "second"}, {"id": 2, "value": "second again"}],
            ignore_duplicates=True,
        )

    async with session_factory(engine)() as session:
        stored = (await session.execute(select(table).order_by(table.c.id))).all()
    assert [tuple(row) for row in stored] == [(1, "first"), (2, "second")]
