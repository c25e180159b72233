"""`update_many`: several rows written by key in one execution (on PostgreSQL `UPDATE ... FROM unnest`, an
executemany on SQLite), each row stored exactly as an UPDATE of that row alone stores it, for every column type
the services use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from dropship_shared.db import session_factory, update_many
from support.column_values import VALUES_BY_TYPE, engine_with

metadata = MetaData()
TABLES = {
    (kind, path): Table(
        f"{kind}_{path}",
        metadata,
        Column("id", String(16), primary_key=True),
        Column("value", type_, nullable=True),
        Column("untouched", Integer, nullable=True),
    )
    for kind, (type_, _values) in VALUES_BY_TYPE.items()
    for path in ("many", "one_by_one")
}


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with engine_with(metadata, database_url) as created:
        yield created


@pytest.mark.parametrize("kind", sorted(VALUES_BY_TYPE))
async def test_rows_are_written_as_updates_one_by_one_write_them(engine: AsyncEngine, kind: str) -> None:
    values = VALUES_BY_TYPE[kind][1]
    # One row more than the values: a row no update names keeps what it had.
    stored = [{"id": f"row {number}", "value": None, "untouched": number} for number in range(len(values) + 1)]
    changes = [{"id": f"row {number}", "value": value} for number, value in enumerate(values)]
    async with session_factory(engine)() as session, session.begin():
        for path in ("many", "one_by_one"):
            await session.execute(insert(TABLES[kind, path]), stored)
        await update_many(session, TABLES[kind, "many"], "id", changes)
        table = TABLES[kind, "one_by_one"]
        for change in changes:
            await session.execute(update(table).where(table.c.id == change["id"]).values(value=change["value"]))

    async with session_factory(engine)() as session:
        read = {
            path: (await session.execute(select(TABLES[kind, path]).order_by(TABLES[kind, path].c.id))).all()
            for path in ("many", "one_by_one")
        }
    assert read["many"] == read["one_by_one"]
    assert [row.untouched for row in read["many"]] == list(range(len(values) + 1))


async def test_many_rows_go_in_one_statement_and_none_is_nothing(engine: AsyncEngine) -> None:
    table = TABLES["integer", "many"]
    executions: list[bool] = []

    def _count(*args: Any) -> None:
        executions.append(args[-1])  # executemany

    async with session_factory(engine)() as session, session.begin():
        await session.execute(insert(table), [{"id": f"row {number}", "value": 0} for number in range(20)])
        event.listen(engine.sync_engine, "before_cursor_execute", _count)
        await update_many(session, table, "id", [{"id": f"row {number}", "value": number} for number in range(20)])
        await update_many(session, table, "id", [])
        event.remove(engine.sync_engine, "before_cursor_execute", _count)

    # PostgreSQL: one execution of one statement; SQLite: one executemany.
    assert executions == [engine.dialect.name == "sqlite"]
    async with session_factory(engine)() as session:
        read = {row.id: row.value for row in await session.execute(select(table.c.id, table.c.value))}
    assert read == {f"row {number}": number for number in range(20)}
