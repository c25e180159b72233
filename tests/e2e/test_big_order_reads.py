"""Issue 9 item 5: a 200-line order's burst of events does not stall reads on PostgreSQL. While its 200
lines go onto a PO, are acknowledged and ship, the storefront keeps reading the catalog and the order;
the read latencies are printed (p99, max) and each read must answer, well within a generous bound."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from e2e.conftest import SystemFactory, supply_from_the_simulator
from support.tokens import bearer

SHIP_TO = {
    "name": "Ann Lee",
    "address_lines": ["1 Main St"],
    "city": "Springfield",
    "postal_code": "62701",
    "country": "US",
}
LINES = 200
SKUS = [f"SKU-{n:03d}" for n in range(LINES)]
# Far above a healthy read (tens of milliseconds, a second on a very busy machine) and near the 6.7-28.7 s
# stalls of issue 9: the structural guarantee is tested in tests/integration/orders/test_big_order.py.
READ_BOUND_SECONDS = 10.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


@pytest.mark.timeout(900)
async def test_a_200_line_order_does_not_stall_reads(
    make_system: SystemFactory, service_databases: dict[str, str]
) -> None:
    system = make_system(
        database_urls=service_databases,
        extra_env={"supplier-simulator": {"SIMULATOR_AUTO_SHIP_AFTER_SECONDS": "0.2"}},
    )
    system.start()
    supply_from_the_simulator(system, {"min_units": LINES, "max_wait_seconds": 3600, "max_lines_per_po": 50}, SKUS)

    async with httpx.AsyncClient(base_url=system.url("orders"), timeout=60, headers=bearer()) as orders:
        placed = await orders.post(
            "/orders",
            json={
                "customer_email": "big@example.com",
                "ship_to": SHIP_TO,
                "lines": [{"sku": sku, "quantity": 1} for sku in SKUS],
            },
        )
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["order_id"]
        latencies: dict[str, list[float]] = {"product": [], "order": []}
        shipped = asyncio.Event()

        async def read(kind: str, path: str) -> None:
            while not shipped.is_set():
                started = time.monotonic()
                response = await orders.get(path)
                latencies[kind].append(time.monotonic() - started)
                assert response.status_code == 200, response.text
                await asyncio.sleep(0.05)

        async def wait_for_shipping() -> None:
            deadline = time.monotonic() + 300
            try:
                while time.monotonic() < deadline:
                    lines = (await orders.get(f"/orders/{order_id}")).json()["lines"]
                    if all(line["status"] == "shipped" for line in lines):
                        return
                    await asyncio.sleep(0.5)
                raise AssertionError("the 200 lines did not ship in time")
            finally:
                shipped.set()

        await asyncio.gather(
            wait_for_shipping(),
            read("product", f"/products/{SKUS[100]}"),
            read("product", f"/products/{SKUS[7]}/availability"),
            read("order", f"/orders/{order_id}"),
        )

    for kind, values in latencies.items():
        print(
            f"\n{kind} reads during the 200-line burst: {len(values)}, p50 {percentile(values, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(values, 0.99) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"
        )
        assert max(values) < READ_BOUND_SECONDS, f"a {kind} read waited {max(values):.1f} s"
