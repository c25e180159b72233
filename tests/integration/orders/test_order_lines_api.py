"""Customer lines for operations on each engine: found by customer email (in any case), SKU, order, PO or
supplier a page at a time; the lines whose promise is near, with the messages the customer was sent; for
operations only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from dropship_shared.events import utcnow
from support.orders_api import SHIP_TO, orders_client
from support.tokens import bearer

PRODUCTS = [
    {"sku": "CHAIR", "name": "Chair", "supplier_id": "acme", "supplier_sku": "AC-1", "price": "99", "cost": "40",
     "on_hand": 0, "lead_time_days": 5},
    {"sku": "TABLE", "name": "Table", "supplier_id": "globex", "supplier_sku": "GX-9", "price": "500", "cost": "210",
     "on_hand": 0, "lead_time_days": 10},
]  # fmt: skip


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with orders_client(database_url, PRODUCTS) as http:
        yield http


async def place(client: httpx.AsyncClient, email: str, *skus: str) -> str:
    body = {"customer_email": email, "ship_to": SHIP_TO, "lines": [{"sku": sku, "quantity": 1} for sku in skus]}
    placed = await client.post("/orders", json=body)
    assert placed.status_code == 201, placed.text
    return str(placed.json()["order_id"])


async def lines(client: httpx.AsyncClient, path: str = "/order-lines", **params: Any) -> list[dict[str, Any]]:
    answer = await client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


async def test_lines_are_found_by_customer_sku_order_and_supplier(client: httpx.AsyncClient) -> None:
    ann = await place(client, "Ann@Example.com", "CHAIR", "TABLE")
    bob = await place(client, "bob@example.com", "TABLE")

    found = await lines(client, customer_email="ann@example.COM")
    assert [(line["order_id"], line["line_no"], line["sku"]) for line in found] == [
        (ann, 1, "CHAIR"),
        (ann, 2, "TABLE"),
    ]
    assert found[0]["customer_email"] == "Ann@example.com" and found[0]["status"] == "backordered"
    assert found[0]["supplier_id"] == "acme" and found[0]["po_number"] is None and found[0]["promised_date"]
    assert [line["order_id"] for line in await lines(client, sku="TABLE")] == [bob, ann]  # newest order first
    assert [line["line_no"] for line in await lines(client, order_id=ann)] == [1, 2]
    assert [line["order_id"] for line in await lines(client, supplier_id="globex", limit=1)] == [bob]
    assert [line["order_id"] for line in await lines(client, supplier_id="globex", limit=1, offset=1)] == [ann]
    assert await lines(client, customer_email="nobody@example.com") == []
    assert await lines(client, po_number="PO00000001") == []
    assert (await client.get("/order-lines", params={"limit": 0})).status_code == 422


async def test_lines_near_their_promise_come_with_the_messages_sent(client: httpx.AsyncClient) -> None:
    order_id = await place(client, "cy@example.com", "CHAIR", "TABLE")
    # CHAIR: batch wait 3 + lead time 5 + transit 3 = 11 days away; TABLE: 16
    assert await lines(client, "/order-lines/at-risk", within_days=10) == []
    [chair] = await lines(client, "/order-lines/at-risk", within_days=11)
    assert (chair["order_id"], chair["sku"], chair["days_to_promise"]) == (order_id, "CHAIR", 11)
    assert [message["kind"] for message in chair["messages"]] == ["backorder_placed"]
    both = await lines(client, "/order-lines/at-risk", within_days=30)
    assert [line["sku"] for line in both] == ["CHAIR", "TABLE"]  # soonest promise first
    assert (await client.get("/order-lines/at-risk", params={"within_days": 61})).status_code == 422


async def test_customer_lines_are_for_operations(client: httpx.AsyncClient) -> None:
    for path in ("/order-lines", "/order-lines/at-risk"):
        assert (await client.get(path, headers=bearer("storefront"))).status_code == 403
        assert (await client.get(path, headers=bearer("operations"))).status_code == 200


async def test_the_backorder_figures_per_day_and_all_together(client: httpx.AsyncClient) -> None:
    await place(client, "dan@example.com", "CHAIR", "TABLE")
    await place(client, "eve@example.com", "TABLE")
    today = utcnow().date().isoformat()
    [day] = (await client.get("/metrics/backorders", params={"group_by": "day"})).json()["groups"]
    assert (day["group"], day["backordered_lines"], day["open_backorders"]) == (today, 3, 3)
    [everything] = (await client.get("/metrics/backorders", params={"group_by": "all"})).json()["groups"]
    assert (everything["group"], everything["backordered_lines"]) == ("all", 3)
