"""The orders API over ASGI on a migrated database, for API tests on either engine (no broker: the outbox keeps
the events)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
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

LAMP = {
    "sku": "LAMP",
    "name": "Lamp",
    "supplier_id": "acme",
    "supplier_sku": "AC-7",
    "price": "19.99",
    "cost": "410.00",
    "on_hand": 100,
    "lead_time_days": 5,
}
"""A product whose cost is over its price, in stock."""


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


async def place_orders_concurrently(
    orders_url: str, bodies: Sequence[dict[str, Any]], at_once: int
) -> list[dict[str, Any]]:
    """POST /orders of each body to a running orders service, `at_once` at a time; the answers, as they came."""
    semaphore = asyncio.Semaphore(at_once)
    answers: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=orders_url, timeout=30, headers=bearer()) as client:

        async def place(body: dict[str, Any]) -> None:
            async with semaphore:
                response = await client.post("/orders", json=body)
                response.raise_for_status()
                answers.append(response.json())

        await asyncio.gather(*(place(body) for body in bodies))
    return answers
