"""The whole path, end to end, through public HTTP APIs only: an order short of stock becomes a backorder,
the aggregator releases a PO at the supplier's minimum, the gateway places it with the (simulated)
supplier over HTTP, the supplier's signed shipment notice comes back, and the customer's order line
shows the carrier and tracking number."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from devstack import DEMO_SECRET
from e2e.conftest import SystemFactory
from support.tokens import bearer

SHIP_TO = {
    "name": "Ann Lee",
    "address_lines": ["1 Main St"],
    "city": "Springfield",
    "region": "IL",
    "postal_code": "62701",
    "country": "US",
}


async def wait_until(check: Any, timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.3)


async def test_order_to_tracking_number(make_system: SystemFactory) -> None:
    system = make_system(extra_env={"supplier-simulator": {"SIMULATOR_AUTO_SHIP_AFTER_SECONDS": "0.5"}})
    system.start()
    orders = httpx.Client(base_url=system.url("orders"), timeout=10, headers=bearer())
    aggregator = httpx.Client(base_url=system.url("aggregator"), timeout=10, headers=bearer())
    gateway = httpx.Client(base_url=system.url("supplier-gateway"), timeout=10, headers=bearer())
    simulator = httpx.Client(base_url=system.url("supplier-simulator"), timeout=10)

    gateway.put(
        "/suppliers/acme",
        json={
            "name": "ACME",
            "protocol": "http",
            "base_url": system.url("supplier-simulator"),
            "signing_secret": DEMO_SECRET,
        },
    ).raise_for_status()
    aggregator.put("/suppliers/acme", json={"name": "ACME"}).raise_for_status()
    aggregator.put("/suppliers/acme/policy", json={"min_units": 3, "max_wait_seconds": 3600}).raise_for_status()
    orders.put(
        "/products",
        json=[
            {
                "sku": "TABLE-OAK",
                "name": "Oak table",
                "supplier_id": "acme",
                "supplier_sku": "AC-TB-200",
                "price": "899.00",
                "cost": "410.00",
                "on_hand": 1,
            }
        ],
    ).raise_for_status()

    # Bad input is refused with a useful body and changes nothing.
    invalid = orders.post("/orders", json={"customer_email": "ann@example.com", "ship_to": SHIP_TO, "lines": []})
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["loc"] == ["body", "lines"]
    unknown = orders.post(
        "/orders",
        json={"customer_email": "ann@example.com", "ship_to": SHIP_TO, "lines": [{"sku": "SOFA", "quantity": 1}]},
    )
    assert unknown.status_code == 422 and "SOFA" in unknown.text

    first = orders.post(
        "/orders",
        json={"customer_email": "ann@example.com", "ship_to": SHIP_TO, "lines": [{"sku": "TABLE-OAK", "quantity": 2}]},
    ).json()
    assert first["lines"][0]["allocated_qty"] == 1 and first["lines"][0]["backordered_qty"] == 1
    await asyncio.sleep(1.0)
    assert aggregator.get("/purchase-orders").json() == []  # 1 unit waiting, minimum 3
    second = orders.post(
        "/orders",
        json={"customer_email": "bob@example.com", "ship_to": SHIP_TO, "lines": [{"sku": "TABLE-OAK", "quantity": 2}]},
    ).json()

    def shipped(order_id: str) -> dict[str, Any] | None:
        order = orders.get(f"/orders/{order_id}").json()
        return order if order["lines"][0]["status"] == "shipped" else None

    done = [await wait_until(lambda: shipped(first["order_id"])), await wait_until(lambda: shipped(second["order_id"]))]
    assert all(done), [orders.get(f"/orders/{o['order_id']}").json() for o in (first, second)]
    for order in done:
        line = order["lines"][0]
        assert line["po_number"]
        [shipment] = line["shipments"]
        assert shipment["tracking_number"] and shipment["carrier"]
        assert shipment["quantity"] == line["backordered_qty"]

    [po] = aggregator.get("/purchase-orders").json()
    assert po["total_units"] == 3 and po["release_reason"] == "minimum_met"
    received = simulator.get("/admin/purchase-orders").json()["orders"]
    assert [(r["po_number"], r["receipts"]) for r in received] == [(po["po_number"], 1)]
    for client in (orders, aggregator, gateway, simulator):
        client.close()


async def test_a_refused_po_shows_on_the_dashboard_and_is_retried_from_it(make_system: SystemFactory) -> None:
    system = make_system(extra_env={"supplier-simulator": {"SIMULATOR_AUTO_SHIP_AFTER_SECONDS": "0.5"}})
    system.start()
    orders = httpx.Client(base_url=system.url("orders"), timeout=10, headers=bearer())
    aggregator = httpx.Client(base_url=system.url("aggregator"), timeout=10, headers=bearer())
    simulator = httpx.Client(base_url=system.url("supplier-simulator"), timeout=10)
    system.configure_demo()
    aggregator.put("/suppliers/acme/policy", json={"min_units": 1, "max_wait_seconds": 3600}).raise_for_status()
    simulator.post("/admin/faults", json={"reject_next": 1}).raise_for_status()

    order = orders.post(
        "/orders",
        json={"customer_email": "ann@example.com", "ship_to": SHIP_TO, "lines": [{"sku": "TABLE-OAK", "quantity": 1}]},
    ).json()

    def failed() -> list[dict[str, Any]]:
        return list(aggregator.get("/dashboard/overview").json()["failed_purchase_orders"])

    [refused] = await wait_until(failed)
    assert refused["supplier_id"] == "acme" and refused["failure_reason"]
    overview = aggregator.get("/dashboard/overview").json()
    assert overview["unreachable"] == [] and overview["dead_letters"]["orders"] == 0
    assert [g["group"] for g in overview["backorders_by_supplier"]] == ["acme"]

    assert aggregator.post(f"/dashboard/purchase-orders/{refused['po_number']}/retry").status_code == 200

    def shipped() -> bool:
        return orders.get(f"/orders/{order['order_id']}").json()["lines"][0]["status"] == "shipped"

    assert await wait_until(shipped)
    assert failed() == []
    for client in (orders, aggregator, simulator):
        client.close()
