"""A product's offers on each engine: the migration turns each product's supplier into its one offer; the
offers API lists, adds, changes and deactivates them with strict input, access rules and audit entries; the
catalog import still works and keeps its supplier's offer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import insert, select

from dropship_shared.db import create_engine
from dropship_shared.migrations import upgrade_to_head
from orders.adapters.orm import product_offers, products
from orders.bootstrap import MIGRATIONS
from support.orders_api import orders_client
from support.tokens import bearer

LAMP = {
    "sku": "LAMP",
    "name": "Lamp",
    "supplier_id": "acme",
    "supplier_sku": "AC-L",
    "price": "30",
    "cost": "12",
    "on_hand": 0,
    "lead_time_days": 4,
}
GLOBEX = {"supplier_sku": "GX-L", "unit_cost": "13.50", "lead_time_days": 2, "priority": 1}


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with orders_client(database_url, [LAMP]) as http:
        yield http


def offers_of(body: list[dict[str, Any]]) -> dict[str, tuple[str, Decimal, int, int, bool]]:
    return {
        offer["supplier_id"]: (
            offer["supplier_sku"],
            Decimal(offer["unit_cost"]),
            offer["lead_time_days"],
            offer["priority"],
            offer["active"],
        )
        for offer in body
    }


async def test_the_migration_makes_each_products_supplier_its_one_offer(database_url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    await asyncio.to_thread(command.upgrade, config, "0009")  # a catalog from before offers
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(
            insert(products).values(
                sku="OLD",
                name="Old",
                supplier_id="acme",
                supplier_sku="AC-O",
                price=Decimal("10"),
                cost=Decimal("4.25"),
                on_hand=0,
                lead_time_days=6,
            )
        )
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), database_url)
    async with engine.connect() as connection:
        rows = (await connection.execute(select(product_offers))).mappings().all()
    await engine.dispose()
    assert [dict(row) for row in rows] == [
        {
            "sku": "OLD",
            "supplier_id": "acme",
            "supplier_sku": "AC-O",
            "unit_cost": Decimal("4.25"),
            "lead_time_days": 6,
            "priority": 0,
            "active": True,
        }
    ]


async def test_offers_are_added_changed_listed_and_deactivated(client: httpx.AsyncClient) -> None:
    assert offers_of((await client.get("/products/LAMP/offers")).json()) == {
        "acme": ("AC-L", Decimal("12"), 4, 0, True)
    }
    added = await client.put("/products/LAMP/offers/globex", json=GLOBEX)
    assert added.status_code == 201, added.text
    changed = await client.put("/products/LAMP/offers/globex", json={**GLOBEX, "unit_cost": "11"})
    assert changed.status_code == 200
    assert offers_of((await client.get("/products/LAMP/offers")).json()) == {
        "acme": ("AC-L", Decimal("12"), 4, 0, True),
        "globex": ("GX-L", Decimal("11"), 2, 1, True),
    }
    gone = await client.delete("/products/LAMP/offers/acme")
    assert gone.status_code == 200 and gone.json()["active"] is False
    # the only active offer left cannot go: the product's backorders need somewhere to go
    last = await client.delete("/products/LAMP/offers/globex")
    assert last.status_code == 409 and last.headers["content-type"].startswith("application/problem+json")
    assert (await client.put("/products/LAMP/offers/globex", json={**GLOBEX, "active": False})).status_code == 409
    # the offer of the product's own supplier keeps the product's figures
    await client.put(
        "/products/LAMP/offers/acme", json={"supplier_sku": "AC-L2", "unit_cost": "9", "lead_time_days": 3}
    )
    product = (await client.get("/products/LAMP")).json()
    assert (product["supplier_sku"], Decimal(product["cost"]), product["lead_time_days"]) == ("AC-L2", Decimal("9"), 3)
    log = (await client.get("/admin/audit", params={"limit": 10})).json()
    assert [(entry["action"], entry["target"]) for entry in log][:4] == [
        ("catalog.offer.change", "LAMP/acme"),
        ("catalog.offer.deactivate", "LAMP/acme"),
        ("catalog.offer.change", "LAMP/globex"),
        ("catalog.offer.add", "LAMP/globex"),
    ]


BAD_OFFERS = {
    "negative cost": ({**GLOBEX, "unit_cost": "-1"}, 422),
    "cost as a number string is fine but a float with too many places": ({**GLOBEX, "unit_cost": "1.123456789"}, 422),
    "lead time beyond a year": ({**GLOBEX, "lead_time_days": 400}, 422),
    "priority as text": ({**GLOBEX, "priority": "1"}, 422),
    "active as a number": ({**GLOBEX, "active": 1}, 422),
    "unknown field": ({**GLOBEX, "fee": "5"}, 422),
    "missing supplier SKU": ({k: v for k, v in GLOBEX.items() if k != "supplier_sku"}, 422),
}


@pytest.mark.parametrize("case", list(BAD_OFFERS))
async def test_bad_offers_are_refused_and_change_nothing(client: httpx.AsyncClient, case: str) -> None:
    body, status = BAD_OFFERS[case]
    response = await client.put("/products/LAMP/offers/globex", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert list(offers_of((await client.get("/products/LAMP/offers")).json())) == ["acme"]


async def test_unknown_products_suppliers_and_callers_are_refused(client: httpx.AsyncClient) -> None:
    assert (await client.get("/products/SOFA/offers")).status_code == 404
    assert (await client.put("/products/SOFA/offers/globex", json=GLOBEX)).status_code == 404
    assert (await client.delete("/products/LAMP/offers/initech")).status_code == 404
    assert (await client.put("/products/LAMP/offers/bad%20id", json=GLOBEX)).status_code == 422
    put = client.put("/products/LAMP/offers/globex", json=GLOBEX, headers=bearer("operations"))
    assert (await put).status_code == 403
    assert (await client.delete("/products/LAMP/offers/acme", headers=bearer("operations"))).status_code == 403
    assert (await client.get("/products/LAMP/offers", headers=bearer("storefront"))).status_code == 403
    assert (await client.get("/products/LAMP/offers", headers=bearer("operations"))).status_code == 200


async def test_the_catalog_import_keeps_its_suppliers_offer(client: httpx.AsyncClient) -> None:
    (await client.put("/products/LAMP/offers/globex", json=GLOBEX)).raise_for_status()
    # the import names another supplier: its offer replaces the one it named before; the API's offer stays
    (
        await client.put("/products", json=[{**LAMP, "supplier_id": "initech", "supplier_sku": "IN-L"}])
    ).raise_for_status()
    assert offers_of((await client.get("/products/LAMP/offers")).json()) == {
        "acme": ("AC-L", Decimal("12"), 4, 0, False),
        "globex": ("GX-L", Decimal("13.50"), 2, 1, True),
        "initech": ("IN-L", Decimal("12"), 4, 0, True),
    }


async def test_an_import_naming_the_same_supplier_leaves_its_deactivated_offer_inactive(
    client: httpx.AsyncClient,
) -> None:
    (await client.put("/products/LAMP/offers/globex", json=GLOBEX)).raise_for_status()
    (await client.delete("/products/LAMP/offers/acme")).raise_for_status()
    # a routine import (new stock, a new price) names the product's supplier as before: the merchant's
    # deactivation holds ("never chosen again"), the figures are updated
    (await client.put("/products", json=[{**LAMP, "on_hand": 5, "cost": "11"}])).raise_for_status()
    assert offers_of((await client.get("/products/LAMP/offers")).json()) == {
        "acme": ("AC-L", Decimal("11"), 4, 0, False),
        "globex": ("GX-L", Decimal("13.50"), 2, 1, True),
    }
    # an import that moves the product to another supplier and back makes that supplier's offer active again
    (await client.put("/products", json=[{**LAMP, "supplier_id": "globex", "supplier_sku": "GX-L"}])).raise_for_status()
    (await client.put("/products", json=[LAMP])).raise_for_status()
    assert offers_of((await client.get("/products/LAMP/offers")).json()) == {
        "acme": ("AC-L", Decimal("12"), 4, 0, True),
        "globex": ("GX-L", Decimal("12"), 4, 1, False),
    }
