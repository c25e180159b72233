"""The orders API over ASGI on a migrated database, for API tests on either engine (no broker: the outbox keeps
the events)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI

from dropship_shared.migrations import upgrade_to_head
from orders.bootstrap import MIGRATIONS, create_app
from orders.config import OrdersSettings
from support.tokens import bearer

SHIP_TO = {
    "name": "Ann Lee",
    "address_lines": ["1 Main St"],
    "city": "Springfield",
    "postal_code": "62701",
    "country": "US",
}


@contextlib.asynccontextmanager
async def orders_app_client(
    database_url: str, catalog: list[dict[str, Any]]
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The orders app with `catalog` loaded, and a client of it."""
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), database_url)
    app = create_app(OrdersSettings(database_url=database_url, notify_channels="email", log_json=False))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://orders", timeout=120, headers=bearer()) as http:
        (await http.put("/products", json=catalog)).raise_for_status()
        yield app, http
    await app.state.runtime.dispose_engines()


@contextlib.asynccontextmanager
async def orders_client(database_url: str, catalog: list[dict[str, Any]]) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the orders app with `catalog` loaded."""
    async with orders_app_client(database_url, catalog) as (_, http):
        yield http
