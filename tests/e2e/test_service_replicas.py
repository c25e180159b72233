"""Two replicas of each service sharing the service's port (devstack's HTTP_REUSE_PORT), on PostgreSQL: orders
go through to shipment while one replica of each service is killed -9 between two waves, and no PO reaches the
supplier twice."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from e2e.conftest import SystemFactory, supply_from_the_simulator
from support.orders_api import SHIP_TO
from support.polling import eventually
from support.tokens import bearer

WAVE = 4


def place(orders_url: str, wave: str) -> list[str]:
    """`WAVE` orders of one unit each, on a fresh connection (the previous one may have gone to a dead replica)."""
    with httpx.Client(base_url=orders_url, timeout=30, headers=bearer()) as orders:
        placed = []
        for n in range(WAVE):
            response = orders.post(
                "/orders",
                json={
                    "customer_email": f"{wave}{n}@example.com",
                    "ship_to": SHIP_TO,
                    "lines": [{"sku": "CHAIR", "quantity": 1}],
                },
            )
            response.raise_for_status()
            placed.append(response.json()["order_id"])
        return placed


def unshipped(orders_url: str, order_ids: list[str]) -> list[str]:
    with httpx.Client(base_url=orders_url, timeout=30, headers=bearer()) as orders:
        statuses = {order_id: orders.get(f"/orders/{order_id}").json()["lines"][0]["status"] for order_id in order_ids}
    return [order_id for order_id, status in statuses.items() if status != "shipped"]


@pytest.mark.timeout(600)
async def test_two_replicas_of_each_service_one_killed(
    make_system: SystemFactory, service_databases: dict[str, str]
) -> None:
    system = make_system(
        database_urls=service_databases,
        replicas=2,
        extra_env={"supplier-simulator": {"SIMULATOR_AUTO_SHIP_AFTER_SECONDS": "0.5"}},
    )
    system.start()
    supply_from_the_simulator(system, {"min_units": 1, "max_wait_seconds": 3600}, ["CHAIR"])
    orders_url = system.url("orders")

    first_wave = place(orders_url, "a")
    for name in ("orders", "aggregator", "supplier-gateway"):
        system.replica_processes[name][0].kill()
    second_wave = place(orders_url, "b")

    await eventually(lambda: unshipped(orders_url, first_wave + second_wave), lambda left: left == [], timeout=180)
    with httpx.Client(base_url=system.url("supplier-simulator"), timeout=30) as simulator:
        received: list[dict[str, Any]] = simulator.get("/admin/purchase-orders").json()["orders"]
    assert received and all(po["receipts"] == 1 for po in received), received
