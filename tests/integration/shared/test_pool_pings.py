"""The PostgreSQL pools (the writers', background work's) ping a connection only when it comes back from a rest:
no round trip before each transaction during a burst, and a connection the server dropped while it rested is
found and replaced before the work runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from dropship_shared import db
from support.infrastructure import backend_pid, counted_pings, terminate_backend


@pytest.fixture(params=["writers", "background"])
async def engine(request: pytest.FixtureRequest, postgres_url: str) -> AsyncIterator[AsyncEngine]:
    make: Callable[[], AsyncEngine] = {
        "writers": lambda: db.create_engine(postgres_url, pool_size=1),
        "background": lambda: db.create_postgres_pool(postgres_url, pool_size=1),
    }[request.param]
    created = make()
    try:
        yield created
    finally:
        await created.dispose()


async def test_a_pooled_connection_is_pinged_only_after_a_rest(
    engine: AsyncEngine, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = counted_pings(engine, monkeypatch)
    for _ in range(3):
        async with engine.begin() as connection:
            await connection.execute(text("SELECT 1"))
    assert pings == []  # back within the rest: not pinged before each transaction

    monkeypatch.setattr(db, "PING_AFTER_REST_SECONDS", 0.0)
    await terminate_backend(postgres_url, await backend_pid(engine))  # the server drops the resting connection
    async with engine.begin() as connection:
        assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1  # on a live connection

    assert pings  # the ping found the dead one and the pool replaced it
