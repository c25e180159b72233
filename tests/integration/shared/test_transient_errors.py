"""Passing database conflicts are told from real failures on the real engines, and retried in place."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from dropship_shared.transient import retry_transient, transient_kind

metadata = MetaData()
rows = Table("rows", metadata, Column("id", Integer, primary_key=True), Column("value", Integer))


async def prepared(url: str, **kwargs: object) -> AsyncEngine:
    engine = create_async_engine(url, **kwargs)  # type: ignore[arg-type]
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        await connection.execute(insert(rows), [{"id": 1, "value": 0}, {"id": 2, "value": 0}])
    return engine


async def bump(connection: AsyncConnection, row_id: int) -> None:
    await connection.execute(update(rows).where(rows.c.id == row_id).values(value=rows.c.value + 1))


async def test_a_deadlock_on_postgresql_is_transient(postgres_url: str) -> None:
    engine = await prepared(postgres_url)
    first_locked, second_locked = asyncio.Event(), asyncio.Event()

    async def lock_both(first: int, second: int, mine: asyncio.Event, theirs: asyncio.Event) -> None:
        async with engine.begin() as connection:
            await bump(connection, first)
            mine.set()
            await theirs.wait()
            await bump(connection, second)

    outcomes = await asyncio.gather(
        lock_both(1, 2, first_locked, second_locked),
        lock_both(2, 1, second_locked, first_locked),
        return_exceptions=True,
    )
    await engine.dispose()
    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert len(errors) == 1, outcomes  # PostgreSQL aborts exactly one side of the cycle
    assert transient_kind(errors[0]) == "deadlock"


async def test_a_lock_timeout_on_postgresql_is_transient(postgres_url: str) -> None:
    engine = await prepared(postgres_url)
    async with engine.begin() as holder:
        await bump(holder, 1)
        with pytest.raises(DBAPIError) as raised:
            async with engine.begin() as waiter:
                await waiter.execute(text("SET LOCAL lock_timeout = '50ms'"))
                await bump(waiter, 1)
    await engine.dispose()
    assert transient_kind(raised.value) == "lock_timeout"


async def test_a_locked_sqlite_file_is_transient(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/busy.db"
    holder_engine = await prepared(url)
    impatient = create_async_engine(url, connect_args={"timeout": 0})
    async with holder_engine.begin() as holder:
        await bump(holder, 1)
        with pytest.raises(DBAPIError) as raised:
            async with impatient.begin() as waiter:
                await bump(waiter, 1)
    await holder_engine.dispose()
    await impatient.dispose()
    assert transient_kind(raised.value) == "sqlite_busy"


async def test_a_content_failure_is_not_transient(database_url: str) -> None:
    engine = await prepared(database_url)
    with pytest.raises(DBAPIError) as raised:
        async with engine.begin() as connection:
            await connection.execute(insert(rows).values(id=1, value=5))  # the key exists
    await engine.dispose()
    assert transient_kind(raised.value) is None
    assert transient_kind(ValueError("bad payload")) is None


async def test_retry_runs_the_work_again_until_the_conflict_clears(postgres_url: str) -> None:
    engine = await prepared(postgres_url)
    attempts = 0

    async def bump_with_impatience() -> int:
        nonlocal attempts
        attempts += 1
        async with engine.begin() as connection:
            await connection.execute(text("SET LOCAL lock_timeout = '20ms'"))
            await bump(connection, 2)
            return int(await connection.scalar(select(rows.c.value).where(rows.c.id == 2)) or 0)

    async with engine.connect() as holder:
        await holder.begin()
        await bump(holder, 2)
        work = asyncio.create_task(retry_transient(bump_with_impatience, "test"))
        while attempts < 3 and not work.done():  # it keeps trying while the lock is held
            await asyncio.sleep(0.01)
        await holder.commit()
    assert await work == 2  # the holder's bump and then its own, once
    await engine.dispose()
