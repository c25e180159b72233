"""DATABASE_POOL_SIZE sets a replica's main PostgreSQL pool (docs/sizing.md counts a replica's connections with it)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import orders.adapters.orm
import orders.bootstrap
from dropship_shared.runtime import ServiceRuntime
from orders.config import OrdersSettings


@pytest.mark.parametrize(("size", "expected"), [(None, 10), (3, 3)])
async def test_the_main_pool_has_the_configured_size_and_as_many_more_in_a_burst(
    monkeypatch: pytest.MonkeyPatch, size: int | None, expected: int
) -> None:
    if size is not None:
        monkeypatch.setenv("DATABASE_POOL_SIZE", str(size))
    settings = OrdersSettings(database_url="postgresql+asyncpg://orders@db.invalid/orders")
    runtime = ServiceRuntime(
        settings, orders.adapters.orm.metadata, orders.adapters.orm.outbox, orders.bootstrap.MIGRATIONS
    )
    try:  # engines connect lazily: nothing reaches the (absent) server
        pool = runtime.engine.sync_engine.pool
        assert (pool.size(), pool._max_overflow) == (expected, expected)  # type: ignore[attr-defined]
    finally:
        await runtime.dispose_engines()


def test_a_pool_holds_at_least_one_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_POOL_SIZE", "0")
    with pytest.raises(ValidationError):
        OrdersSettings()
