"""Crash safety: kill -9 the aggregator while backorders stream in; every backorder line still ends in
exactly one purchase order (architecture invariant 1)."""

from __future__ import annotations

import asyncio

import httpx

from e2e.conftest import SystemFactory
from support.orders_api import place_orders_concurrently
from support.polling import until_stalled
from support.released import ReleasedLines
from support.tokens import bearer

SHIP_TO = {
    "name": "Ann Lee",
    "address_lines": ["1 Main St"],
    "city": "Springfield",
    "postal_code": "62701",
    "country": "US",
}
ORDERS = 600
SUPPLIERS = ["acme", "globex", "initech"]


async def place_orders(orders_url: str, count: int) -> list[str]:
    """Orders for three suppliers, 12 at a time; returns the backorder line ids the orders service made."""
    bodies = [
        {
            "customer_email": f"c{n}@example.com",
            "ship_to": SHIP_TO,
            "lines": [{"sku": f"SKU-{SUPPLIERS[n % 3]}", "quantity": 1 + n % 4}],
        }
        for n in range(count)
    ]
    answers = await place_orders_concurrently(orders_url, bodies, at_once=12)
    return [line["backorder_line_id"] for answer in answers for line in answer["lines"] if line["backordered_qty"]]


async def test_kill_aggregator_mid_stream_every_line_in_exactly_one_po(make_system: SystemFactory) -> None:
    system = make_system(extra_env={"aggregator": {"SCHEDULER_INTERVAL_SECONDS": "0.2"}})
    system.start("orders", "aggregator")
    with httpx.Client(timeout=10, headers=bearer()) as client:
        for supplier in SUPPLIERS:
            client.put(f"{system.url('aggregator')}/suppliers/{supplier}", json={"name": supplier}).raise_for_status()
            client.put(
                f"{system.url('aggregator')}/suppliers/{supplier}/policy",
                json={"min_units": 7, "max_wait_seconds": 8, "on_deadline": "release"},
            ).raise_for_status()
        client.put(
            f"{system.url('orders')}/products",
            json=[
                {
                    "sku": f"SKU-{supplier}",
                    "name": supplier,
                    "supplier_id": supplier,
                    "supplier_sku": f"S-{supplier}",
                    "price": "10",
                    "cost": "4",
                    "on_hand": 5,
                }
                for supplier in SUPPLIERS
            ],
        ).raise_for_status()

    stream = asyncio.create_task(place_orders(system.url("orders"), ORDERS))
    await asyncio.sleep(1.5)
    assert not stream.done(), "the orders finished before the crash: raise ORDERS"
    system.services["aggregator"].kill()
    await asyncio.sleep(1.0)
    system.services["aggregator"].start()
    line_ids = await stream
    system.services["aggregator"].wait_ready()

    assert len(line_ids) > ORDERS - 20  # nearly every order backordered (only 5 units of stock per SKU)
    # Lines below a minimum wait for the 8 s deadline; give the scheduler time to release them.
    released = await until_stalled(ReleasedLines(system.url("aggregator")), lambda seen: len(set(line_ids) - set(seen)))
    assert set(released) == set(line_ids), f"missing: {sorted(set(line_ids) - set(released))[:10]}"
    assert [line for line, times in released.items() if times > 1] == []

    # The orders service saw each line go onto exactly that purchase order.
    with httpx.Client(base_url=system.url("orders"), timeout=10, headers=bearer()) as client:
        sample = line_ids[:: max(1, len(line_ids) // 25)]
        for line_id in sample:
            order_id = line_id.rsplit("-", 1)[0]
            for _ in range(50):
                order = client.get(f"/orders/{order_id}").json()
                if order["lines"][0]["status"] == "on_purchase_order":
                    break
                await asyncio.sleep(0.2)
            assert order["lines"][0]["status"] == "on_purchase_order"
            assert order["lines"][0]["po_number"]
