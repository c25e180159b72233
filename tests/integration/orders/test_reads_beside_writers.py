"""Reading requests have connections of their own: with every writer connection taken (event handlers
waiting on a row lock, or SQLite's one writer busy), GET /orders/{id}, the catalog and the messages still
answer (issue 10: a 200-line order's events stalled reads for seconds)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from support.orders_api import SHIP_TO, orders_app_client

PRODUCTS = [
    {
        "sku": "TABLE",
        "name": "Table",
        "supplier_id": "globex",
        "supplier_sku": "GX-9",
        "price": "500",
        "cost": "210",
        "on_hand": 0,
        "lead_time_days": 10,
    }
]
# Far longer than a read takes on a busy machine, far shorter than the writer pool's checkout timeout (a read
# queued for a writer connection would wait that long, then fail).
READ_SECONDS = 20.0


@contextlib.asynccontextmanager
async def every_connection_taken(engine: AsyncEngine) -> AsyncIterator[int]:
    """Check out the engine's connections, each in a transaction, until one more would have to wait."""
    held: list[AsyncConnection] = []
    try:
        while True:
            try:
                connection = await asyncio.wait_for(engine.connect(), timeout=1.0)
            except TimeoutError:
                break
            held.append(connection)
            await connection.begin()
        yield len(held)
    finally:
        for connection in held:
            await connection.close()


async def test_reads_answer_while_every_writer_connection_is_taken(database_url: str) -> None:
    async with orders_app_client(database_url, PRODUCTS) as (app, http):
        placed = await http.post(
            "/orders",
            json={"customer_email": "ann@example.com", "ship_to": SHIP_TO, "lines": [{"sku": "TABLE", "quantity": 1}]},
        )
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["order_id"]
        async with every_connection_taken(app.state.runtime.engine) as taken:
            assert taken >= 1
            for path in (f"/orders/{order_id}", f"/orders/{order_id}/messages", "/products/TABLE/availability"):
                answer = await asyncio.wait_for(http.get(path), timeout=READ_SECONDS)
                assert answer.status_code == 200, (path, answer.text)
        assert (await http.get(f"/orders/{order_id}")).json()["lines"][0]["status"] == "backordered"
