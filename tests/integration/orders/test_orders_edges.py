"""The orders API's edges on each engine: what neither engine can store is refused alike, money fits its column
and reads the same, big catalogs import in batches within a size limit, and the Idempotency-Key works as the
IETF draft says, also for concurrent requests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from dropship_shared.problems import PROBLEM_MEDIA_TYPE
from orders.entrypoints.catalog_api import MAX_CATALOG_BYTES
from support.orders_api import LAMP, SHIP_TO, orders_client


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with orders_client(database_url, [LAMP]) as http:
        yield http


def order(**changes: Any) -> dict[str, Any]:
    return {
        "customer_email": "ann@example.com",
        "ship_to": SHIP_TO,
        "lines": [{"sku": "LAMP", "quantity": 1}],
        **changes,
    }


def refused(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    return body


async def on_hand(client: httpx.AsyncClient) -> int:
    return int((await client.get("/products/LAMP")).json()["on_hand"])


async def test_money_reads_the_same_on_both_engines(client: httpx.AsyncClient) -> None:
    lamp = (await client.get("/products/LAMP")).json()
    assert (lamp["price"], lamp["cost"]) == ("19.99", "410")
    placed = (await client.post("/orders", json=order(lines=[{"sku": "LAMP", "quantity": 3}]))).json()
    assert (placed["total"], placed["lines"][0]["unit_price"]) == ("59.97", "19.99")
    assert (await client.get(f"/orders/{placed['order_id']}/payments")).json()["authorized"] == "59.97"


@pytest.mark.parametrize(
    "path",
    ["/orders/%00", "/orders/O%00/history", "/products/%00", "/products/LAMP%00/availability", "/orders/x?y=%00"],
)
async def test_nul_in_a_url_is_a_422_on_both_engines(client: httpx.AsyncClient, path: str) -> None:
    refused(await client.get(path), 422)


@pytest.mark.parametrize(
    ("product", "field"),
    [
        ({**LAMP, "sku": "L\u0000"}, "sku"),
        ({**LAMP, "name": "Lamp\u0000"}, "name"),
        ({**LAMP, "supplier_sku": "\u0000"}, "supplier_sku"),
        ({**LAMP, "supplier_id": "x');alert(1);('"}, "supplier_id"),
        ({**LAMP, "price": "100000000000000"}, "price"),
        ({**LAMP, "price": "0.00001"}, "price"),
        ({**LAMP, "on_hand": True}, "on_hand"),
        ({**LAMP, "on_hand": "5"}, "on_hand"),
        ({**LAMP, "lead_time_days": 1.5}, "lead_time_days"),
    ],
)
async def test_a_product_neither_engine_can_keep_is_refused(
    client: httpx.AsyncClient, product: dict[str, Any], field: str
) -> None:
    body = refused(await client.put("/products", json=[LAMP, product]), 422)
    assert body["errors"][0]["loc"][:3] == ["body", 1, field]
    assert (await client.get("/products/LAMP")).json()["price"] == "19.99"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (
            b'[{"sku": "L", "name": "\\ud800", "supplier_id": "a", "supplier_sku": "b", "price": 1, "cost": 1, '
            b'"on_hand": 1}]',
            "name",
        ),
        (
            b'[{"sku": "L", "name": "n", "supplier_id": "a", "supplier_sku": "b", "price": NaN, "cost": 1, '
            b'"on_hand": 1}]',
            "price",
        ),
        (
            b'[{"sku": "L", "name": "n", "supplier_id": "a", "supplier_sku": "b", "price": 1, "cost": 1e400, '
            b'"on_hand": 1}]',
            "cost",
        ),
    ],
)
async def test_surrogates_and_non_finite_numbers_are_refused(client: httpx.AsyncClient, raw: bytes, field: str) -> None:
    response = await client.put("/products", content=raw, headers={"Content-Type": "application/json"})
    assert field in refused(response, 422)["errors"][0]["loc"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (order(lines=[{"sku": "LAMP", "quantity": "5"}]), "quantity"),
        (order(lines=[{"sku": "LAMP", "quantity": True}]), "quantity"),
        (order(lines=[{"sku": "LAMP\u0000", "quantity": 1}]), "sku"),
        (order(ship_to={**SHIP_TO, "city": "Spring\u0000field"}), "city"),
        (order(ship_to={**SHIP_TO, "address_lines": ["\u0000"]}), "address_lines"),
    ],
)
async def test_an_order_with_unstorable_or_loose_input_is_refused(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    assert field in refused(await client.post("/orders", json=body), 422)["errors"][0]["loc"]
    assert await on_hand(client) == 100


async def test_an_order_total_the_ledger_cannot_hold_is_refused(client: httpx.AsyncClient) -> None:
    dear = {**LAMP, "sku": "GOLD", "price": "99999999999999.9999", "on_hand": 0}
    (await client.put("/products", json=[dear])).raise_for_status()
    response = await client.post("/orders", json=order(lines=[{"sku": "GOLD", "quantity": 2}]))
    assert "total" in refused(response, 422)["detail"]
    figures = (await client.get("/metrics/backorders")).json()
    assert figures["groups"] == []  # nothing was recorded


async def test_a_big_catalog_is_imported_in_batches_and_an_oversized_one_refused(client: httpx.AsyncClient) -> None:
    catalog = [{**LAMP, "sku": f"SKU-{n}", "name": f"Product {n}"} for n in range(1_234)]
    assert (await client.put("/products", json=catalog)).json() == {"upserted": 1_234}
    assert (await client.get("/products/SKU-1233")).json()["name"] == "Product 1233"

    async def oversized() -> AsyncIterator[bytes]:  # sent chunked: no Content-Length to go by
        piece = json.dumps([{**LAMP, "sku": "BIG"}] * 1000).encode()[1:-1] + b","
        yield b"["
        for _ in range(MAX_CATALOG_BYTES // len(piece) + 1):
            yield piece
        yield json.dumps(LAMP).encode() + b"]"

    response = await client.put("/products", content=oversized(), headers={"Content-Type": "application/json"})
    refused(response, 413)
    assert (await client.get("/products/BIG")).status_code == 404


@pytest.mark.parametrize("key", ["", '""', "k" * 201])
async def test_an_empty_or_over_long_idempotency_key_is_a_400(client: httpx.AsyncClient, key: str) -> None:
    refused(await client.post("/orders", json=order(), headers={"Idempotency-Key": key}), 400)
    assert await on_hand(client) == 100


async def test_an_idempotency_key_reused_with_another_body_is_a_422(client: httpx.AsyncClient) -> None:
    first = await client.post("/orders", json=order(), headers={"Idempotency-Key": '"k-1"'})
    assert first.status_code == 201
    again = await client.post("/orders", json=order(), headers={"Idempotency-Key": "k-1"})  # the same key, bare
    assert again.status_code == 200 and again.json()["order_id"] == first.json()["order_id"]
    other = order(lines=[{"sku": "LAMP", "quantity": 2}])
    assert (
        "different"
        in refused(await client.post("/orders", json=other, headers={"Idempotency-Key": "k-1"}), 422)["detail"]
    )
    assert await on_hand(client) == 99


async def test_concurrent_requests_with_one_key_place_one_order(client: httpx.AsyncClient) -> None:
    answers = await asyncio.gather(
        *(client.post("/orders", json=order(), headers={"Idempotency-Key": "same-key"}) for _ in range(20))
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses.count(201) == 1 and set(statuses) <= {200, 201, 409}, statuses
    created = next(answer.json()["order_id"] for answer in answers if answer.status_code == 201)
    assert {answer.json()["order_id"] for answer in answers if answer.status_code == 200} <= {created}
    for answer in answers:
        if answer.status_code == 409:
            assert answer.headers["Retry-After"]
    assert await on_hand(client) == 99  # one order took stock


async def test_money_a_write_echoes_reads_as_the_get_after_it_on_both_engines(client: httpx.AsyncClient) -> None:
    """One form on both engines, whether the amount was echoed, read back or summed: 21.00 given reads 21."""
    offer = {"supplier_sku": "GX-7", "unit_cost": "21.00", "lead_time_days": 3}
    echoed = (await client.put("/products/LAMP/offers/globex", json=offer)).json()
    listed = (await client.get("/products/LAMP/offers")).json()
    assert echoed["unit_cost"] == "21" and {o["unit_cost"] for o in listed if o["supplier_id"] == "globex"} == {"21"}
    await client.put("/products", json=[{**LAMP, "sku": "RUG", "price": "89.90", "cost": "40.00"}])
    placed = (await client.post("/orders", json=order(lines=[{"sku": "RUG", "quantity": 100}]))).json()
    read = (await client.get(f"/orders/{placed['order_id']}")).json()
    for answer in (placed, read):
        assert (answer["total"], answer["lines"][0]["unit_price"]) == ("8990", "89.9"), answer
    assert (await client.get(f"/orders/{placed['order_id']}/payments")).json()["authorized"] == "8990"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/orders/{order_id}/lines/9/cancel", None),
        ("/orders/{order_id}/lines/9/delivered", None),
        ("/order-lines/{order_id}/9/reroute", {}),
        ("/order-lines/{order_id}/9/reject", {"reason": "out of stock"}),
    ],
)
async def test_a_line_the_order_does_not_have_is_a_404_naming_it(
    client: httpx.AsyncClient, path: str, body: dict[str, Any] | None
) -> None:
    placed = (await client.post("/orders", json=order())).json()
    answer = await client.post(path.format(order_id=placed["order_id"]), json=body)
    assert refused(answer, 404)["detail"] == f"order {placed['order_id']} has no line 9"
    operation = (await client.get("/openapi.json")).json()["paths"][path.replace("/9/", "/{line_no}/")]["post"]
    assert "404" in operation["responses"]
