"""Issue 15, done when: on PostgreSQL, multi-line orders stream in against a supplier that acknowledges and
ships at once, every consumer with a prefetch of 64; PostgreSQL detects no deadlock in any service's
database, no event is dead-lettered, and every invariant holds, also when orders is killed mid-stream."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from e2e.conftest import SERVICES_WITH_DATABASES, SystemFactory, supply_from_the_simulator
from support.tokens import bearer

SHIP_TO = {
    "name": "Ann Lee",
    "address_lines": ["1 Main St"],
    "city": "Springfield",
    "postal_code": "62701",
    "country": "US",
}
SKUS = [f"SKU-{n}" for n in range(1, 7)]
ORDERS = 48
LINES_PER_ORDER = 4


async def deadlocks(database_urls: dict[str, str]) -> dict[str, int]:
    """PostgreSQL's count of deadlocks detected so far, per service database."""
    found = {}
    for service, url in database_urls.items():
        engine = create_async_engine(url)
        async with engine.connect() as connection:
            await connection.execute(text("SELECT pg_stat_clear_snapshot()"))
            found[service] = int(
                await connection.scalar(
                    text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
                )
                or 0
            )
        await engine.dispose()
    return found


async def place_orders(orders_url: str) -> list[str]:
    """ORDERS orders of LINES_PER_ORDER lines, 8 at a time; each retried with its Idempotency-Key while
    orders is down. Returns the order ids."""
    slots = asyncio.Semaphore(8)
    placed: list[str] = []
    async with httpx.AsyncClient(base_url=orders_url, timeout=30, headers=bearer()) as client:

        async def one(n: int) -> None:
            body = {
                "customer_email": f"c{n}@example.com",
                "ship_to": SHIP_TO,
                "lines": [
                    {"sku": SKUS[(n + k) % len(SKUS)], "quantity": 1 + (n + k) % 3} for k in range(LINES_PER_ORDER)
                ],
            }
            async with slots:
                deadline = time.monotonic() + 120
                while True:
                    try:
                        response = await client.post("/orders", json=body, headers={"Idempotency-Key": f"load-{n}"})
                        if response.status_code in (200, 201):
                            placed.append(response.json()["order_id"])
                            return
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise AssertionError(f"order {n} not accepted in time")
                    await asyncio.sleep(0.3)

        await asyncio.gather(*(one(n) for n in range(ORDERS)))
    return placed


def all_shipped(client: httpx.Client, order_ids: list[str]) -> list[dict[str, Any]] | None:
    orders = []
    for order_id in order_ids:
        order = client.get(f"/orders/{order_id}").json()
        if any(line["status"] != "shipped" for line in order["lines"]):
            return None
        orders.append(order)
    return orders


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("crash", [False, True], ids=["steady", "kill-9-orders"])
async def test_streamed_multi_line_orders_on_postgresql_never_deadlock(
    make_system: SystemFactory, service_databases: dict[str, str], crash: bool
) -> None:
    fast_supplier = {"SIMULATOR_AUTO_SHIP_AFTER_SECONDS": "0.2"}
    prefetch = {"PREFETCH": "64"}
    system = make_system(
        database_urls=service_databases,
        extra_env={
            "supplier-simulator": fast_supplier,
            "orders": prefetch,
            "aggregator": {**prefetch, "SCHEDULER_INTERVAL_SECONDS": "0.2"},
            "supplier-gateway": {**prefetch, "DISPATCH_INTERVAL_SECONDS": "0.2"},
        },
    )
    system.start()
    supply_from_the_simulator(system, {"min_units": 10, "max_wait_seconds": 20, "on_deadline": "release"}, SKUS)
    before = await deadlocks(service_databases)

    stream = asyncio.create_task(place_orders(system.url("orders")))
    if crash:  # once the suppliers' events flow back into orders, kill it in the middle of handling them
        with httpx.Client(base_url=system.url("orders"), timeout=10, headers=bearer()) as client:
            flowing = time.monotonic() + 120
            while "events_consumed_total{" not in client.get("/metrics").text and time.monotonic() < flowing:
                await asyncio.sleep(0.2)
        system.services["orders"].kill()
        system.services["orders"].start()
    order_ids = await stream
    system.services["orders"].wait_ready()
    assert len(set(order_ids)) == ORDERS

    orders_api = httpx.Client(base_url=system.url("orders"), timeout=30, headers=bearer())
    deadline = time.monotonic() + 300
    shipped = all_shipped(orders_api, order_ids)
    while shipped is None and time.monotonic() < deadline:
        await asyncio.sleep(1)
        shipped = all_shipped(orders_api, order_ids)
    assert shipped is not None, "not every line shipped in time"

    # Invariants: every line on one PO and shipped once in full; money reconciled; every message went.
    for order in shipped:
        for line in order["lines"]:
            assert line["po_number"]
            assert sum(s["quantity"] for s in line["shipments"]) == line["backordered_qty"] == line["quantity"]
        payments = orders_api.get(f"/orders/{order['order_id']}/payments").json()
        assert payments["reconciled"] and payments["captured"] == payments["authorized"]

    async def messages_sent() -> list[dict[str, Any]] | None:
        found = []
        for order_id in order_ids:
            messages = orders_api.get(f"/orders/{order_id}/messages").json()
            if any(m["sent_at"] is None for m in messages):
                return None
            found.extend(messages)
        return found

    sent = await messages_sent()
    while sent is None and time.monotonic() < deadline:
        await asyncio.sleep(1)
        sent = await messages_sent()
    assert sent is not None, "customer messages still unsent"
    delays = [
        (datetime.fromisoformat(m["sent_at"]) - datetime.fromisoformat(m["created_at"])).total_seconds() for m in sent
    ]
    mailbox = (system.workdir / "smtp-sink.log").read_text(errors="replace")
    message_ids = Counter(re.findall(r"^Message-ID: (<[^>]+>)", mailbox, flags=re.MULTILINE))
    twice = sum(1 for count in message_ids.values() if count > 1)
    print(
        f"\n[{'kill -9 orders' if crash else 'steady'}] {len(sent)} customer messages, creation→sent p50 "
        f"{sorted(delays)[len(delays) // 2]:.2f} s, p99 {p99(delays):.2f} s, max {max(delays):.2f} s; "
        f"emails sent twice: {twice}"
    )
    for service in SERVICES_WITH_DATABASES:
        dead = httpx.get(f"{system.url(service)}/admin/dead-letters", timeout=10, headers=bearer()).json()["messages"]
        assert dead == [], (service, dead)
    orders_api.close()

    system.stop()  # the services' connections end and report their statistics
    after = await deadlocks(service_databases)
    assert after == before, f"deadlocks detected: before {before}, after {after}"
