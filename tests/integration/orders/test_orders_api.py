"""The orders HTTP API on each engine: bad input is a clear 4xx changing nothing; reads are right."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from dropship_shared.events import utcnow
from support.orders_api import SHIP_TO, orders_client

PRODUCTS = [
    {
        "sku": "CHAIR",
        "name": "Chair",
        "supplier_id": "acme",
        "supplier_sku": "AC-1",
        "price": "99",
        "cost": "40",
        "on_hand": 1,
        "lead_time_days": 5,
    },
    {
        "sku": "TABLE",
        "name": "Table",
        "supplier_id": "globex",
        "supplier_sku": "GX-9",
        "price": "500",
        "cost": "210",
        "on_hand": 0,
        "lead_time_days": 10,
    },
]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with orders_client(database_url, PRODUCTS) as http:
        yield http


def order(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_email": "ann@example.com",
        "ship_to": dict(SHIP_TO),
        "lines": [{"sku": "TABLE", "quantity": 1}],
    }
    body.update(changes)
    return body


def money(body: dict[str, Any], *fields: str) -> list[Decimal]:
    return [Decimal(body[field]) for field in fields]


BAD_ORDERS = {
    "negative quantity": (order(lines=[{"sku": "TABLE", "quantity": -1}]), 422, "quantity"),
    "zero quantity": (order(lines=[{"sku": "TABLE", "quantity": 0}]), 422, "quantity"),
    "absurd quantity": (order(lines=[{"sku": "TABLE", "quantity": 10_000_001}]), 422, "quantity"),
    "empty lines": (order(lines=[]), 422, "lines"),
    "too many lines": (order(lines=[{"sku": "TABLE", "quantity": 1}] * 201), 422, "lines"),
    "unknown sku": (order(lines=[{"sku": "CHAIR", "quantity": 1}, {"sku": "SOFA", "quantity": 1}]), 422, "sku"),
    "bad email": (order(customer_email="not-an-email"), 422, "customer_email"),
    "country not ISO": (order(ship_to={**SHIP_TO, "country": "USA"}), 422, "country"),
    "no address lines": (order(ship_to={**SHIP_TO, "address_lines": []}), 422, "address_lines"),
    "missing city": (order(ship_to={k: v for k, v in SHIP_TO.items() if k != "city"}), 422, "city"),
    "absurd name": (order(ship_to={**SHIP_TO, "name": "x" * 5000}), 422, "name"),
    "unknown field": (order(coupon="FREE"), 422, "coupon"),
}


@pytest.mark.parametrize("case", list(BAD_ORDERS))
async def test_bad_orders_get_a_clear_4xx_and_change_nothing(client: httpx.AsyncClient, case: str) -> None:
    body, status, field = BAD_ORDERS[case]
    response = await client.post("/orders", json=body)
    assert response.status_code == status, response.text
    assert field in response.text
    chair = (await client.get("/products/CHAIR")).json()
    assert chair["on_hand"] == 1  # the stock of the valid line was not taken
    figures = (await client.get("/metrics/backorders")).json()
    assert figures["groups"] == []  # no order was recorded


async def test_an_absurdly_large_body_is_refused_before_parsing(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/orders", content=b"{" + b" " * 2_000_000 + b"}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_bad_catalog_input_and_unknown_things_are_4xx(client: httpx.AsyncClient) -> None:
    bad = {**PRODUCTS[0], "price": "-1"}
    assert (await client.put("/products", json=[bad])).status_code == 422
    assert (await client.put("/products", json=[{**PRODUCTS[0], "lead_time_days": 9999}])).status_code == 422
    assert (await client.get("/products/SOFA/availability")).status_code == 404
    assert (await client.get("/orders/NOPE")).status_code == 404
    assert (await client.get("/orders/NOPE/payments")).status_code == 404
    assert (await client.post("/orders/NOPE/cancel")).status_code == 404
    assert (await client.get("/metrics/backorders", params={"group_by": "color"})).status_code == 422
    now = utcnow()
    window = {"from": now.isoformat(), "to": (now - timedelta(days=1)).isoformat()}
    assert (await client.get("/metrics/backorders", params=window)).status_code == 422


async def test_an_order_reads_with_its_promise_history_payments_and_figures(client: httpx.AsyncClient) -> None:
    wanted = order(lines=[{"sku": "CHAIR", "quantity": 2}, {"sku": "TABLE", "quantity": 1}])
    placed = await client.post("/orders", json=wanted, headers={"Idempotency-Key": "k-1"})
    assert placed.status_code == 201
    again = await client.post("/orders", json=wanted, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 200 and again.json()["order_id"] == placed.json()["order_id"]
    body = placed.json()
    order_id = body["order_id"]
    today = utcnow().date()
    assert body["status"] == "awaiting_supplier"
    assert [(line["status"], line["allocated_qty"], line["backordered_qty"]) for line in body["lines"]] == [
        ("backordered", 1, 1),
        ("backordered", 0, 1),
    ]
    assert body["lines"][1]["promised_date"] == str(today + timedelta(days=3 + 10 + 3))

    history = (await client.get(f"/orders/{order_id}/history")).json()
    assert history["lines"][1]["transitions"][0]["to_status"] == "backordered"
    assert history["lines"][1]["promises"][0]["cause"] == "order_placed"

    payments = (await client.get(f"/orders/{order_id}/payments")).json()
    assert money(payments, "authorized", "captured", "released", "outstanding") == [698, 99, 0, 599]
    assert payments["reconciled"] is False

    cancelled = (await client.post(f"/orders/{order_id}/cancel")).json()
    assert [line["status"] for line in cancelled["lines"]] == ["cancelled", "cancelled"]
    assert cancelled["status"] == "cancelled"
    assert (await client.post(f"/orders/{order_id}/cancel")).status_code == 200  # idempotent
    payments = (await client.get(f"/orders/{order_id}/payments")).json()
    assert money(payments, "captured", "released", "outstanding") == [99, 599, 0]
    assert payments["reconciled"] is True
    refused = await client.post(f"/orders/{order_id}/lines/1/delivered", json={"source": "carrier"})
    assert refused.status_code == 409

    messages = (await client.get(f"/orders/{order_id}/messages")).json()
    assert [m["kind"] for m in messages] == ["backorder_placed", "cancelled", "cancelled"]

    figures = (await client.get("/metrics/backorders", params={"group_by": "supplier"})).json()["groups"]
    by_supplier = {g["group"]: g for g in figures}
    assert by_supplier["acme"]["backorder_rate"] == 0.5
    assert by_supplier["globex"]["cancelled_while_waiting"] == 1
    assert by_supplier["globex"]["open_backorders"] == 0


async def test_availability_for_the_storefront(client: httpx.AsyncClient) -> None:
    today = utcnow().date()
    chair = (await client.get("/products/CHAIR/availability")).json()
    assert (chair["in_stock"], chair["expected_delivery_date"]) == (True, str(today + timedelta(days=3)))
    table = (await client.get("/products/TABLE/availability")).json()
    assert table["in_stock"] is False
    assert table["expected_in_stock_date"] == str(today + timedelta(days=3 + 10))
    assert table["expected_delivery_date"] == str(today + timedelta(days=3 + 10 + 3))
