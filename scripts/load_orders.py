"""Load script (not a test): pushes N orders through a freshly started system and prints
backorder lines/s, order-to-PO latency percentiles, the customer-email backlog and delivery latency,
and the services' memory.

    .venv/bin/python scripts/load_orders.py --orders 2000 --concurrency 32 [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
import psutil
from bench_support import delete_topology, fresh_postgres_database

from devstack import SERVICES, System, free_port

SHIP_TO = {
    "name": "Load Test",
    "address_lines": ["1 Main St"],
    "city": "Springfield",
    "postal_code": "1",
    "country": "US",
}
SUPPLIERS = [f"sup{n}" for n in range(10)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def push_orders(
    url: str, count: int, concurrency: int, headers: dict[str, str]
) -> tuple[dict[str, datetime], list[float]]:
    placed: dict[str, datetime] = {}
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:

        async def one(n: int) -> None:
            async with semaphore:
                started = time.perf_counter()
                response = await client.post(
                    "/orders",
                    json={
                        "customer_email": f"load{n}@example.com",
                        "ship_to": SHIP_TO,
                        "lines": [{"sku": f"SKU-{SUPPLIERS[n % len(SUPPLIERS)]}", "quantity": 1 + n % 3}],
                    },
                )
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()
                order = response.json()
                for line in order["lines"]:
                    if line["backordered_qty"]:
                        placed[line["backorder_line_id"]] = datetime.fromisoformat(order["placed_at"])

        await asyncio.gather(*(one(n) for n in range(count)))
    return placed, latencies


def gauge(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return 0.0


class EmailBacklog:
    """Watches the orders service's unsent customer messages (its /metrics) while the load runs."""

    def __init__(self, orders_url: str) -> None:
        self._url = orders_url
        self.peak = 0.0
        self.oldest_seconds = 0.0
        self.current = 0.0

    async def watch(self) -> None:
        async with httpx.AsyncClient(base_url=self._url, timeout=30) as client:
            while True:
                metrics = (await client.get("/metrics")).text
                self.current = gauge(metrics, "customer_messages_backlog")
                self.peak = max(self.peak, self.current)
                self.oldest_seconds = max(
                    self.oldest_seconds, gauge(metrics, "customer_messages_oldest_unsent_age_seconds")
                )
                await asyncio.sleep(0.5)


async def email_delays(orders_url: str, order_ids: list[str], headers: dict[str, str]) -> list[float]:
    """Creation → sent of the customer messages of (a sample of) the orders, in seconds."""
    delays = []
    async with httpx.AsyncClient(base_url=orders_url, timeout=30, headers=headers) as client:
        for order_id in order_ids[:: max(1, len(order_ids) // 300)]:
            for message in (await client.get(f"/orders/{order_id}/messages")).json():
                if message["sent_at"]:
                    sent = datetime.fromisoformat(message["sent_at"])
                    delays.append((sent - datetime.fromisoformat(message["created_at"])).total_seconds())
    return delays


async def released(url: str, headers: dict[str, str]) -> dict[str, datetime]:
    lines: dict[str, datetime] = {}
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:
        offset = 0
        while True:
            page = (await client.get("/purchase-orders", params={"limit": 500, "offset": offset})).json()
            details = await asyncio.gather(*(client.get(f"/purchase-orders/{po['po_number']}") for po in page))
            for detail in details:
                body = detail.json()
                created = datetime.fromisoformat(body["created_at"])
                for line in body["lines"]:
                    if line["backorder_line_id"]:
                        lines[line["backorder_line_id"]] = created
            if len(page) < 500:
                return lines
            offset += 500


def memory_mb(system: System) -> dict[str, float]:
    sizes = {}
    for name, service in system.services.items():
        if service.process and service.process.poll() is None:
            sizes[name] = psutil.Process(service.process.pid).memory_info().rss / 2**20
    return sizes


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--min-units", type=int, default=20)
    parser.add_argument("--postgres", help="PostgreSQL server URL; default SQLite files")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:6]
    async with contextlib.AsyncExitStack() as stack:
        databases = {}
        if args.postgres:
            for name in ("orders", "aggregator"):
                databases[name] = await stack.enter_async_context(
                    fresh_postgres_database(args.postgres, f"load_{run}_{name}")
                )
        await run_load(args, run, databases)
        queues = [f"load-{run}.{name}" for name in ("orders", "aggregator", "supplier-gateway")]
        await delete_topology(args.amqp_url, f"load-{run}", queues)


async def run_load(args: argparse.Namespace, run: str, databases: dict[str, str]) -> None:
    system = System(
        Path(tempfile.mkdtemp(prefix="dropship-load-")),
        amqp_url=args.amqp_url,
        exchange=f"load-{run}",
        queue_prefix=f"load-{run}.",
        database_urls=databases,
        ports={name: free_port() for name in SERVICES},
    )
    try:
        system.start("orders", "aggregator")
        async with httpx.AsyncClient(timeout=30, headers=system.headers("admin")) as client:
            for supplier in SUPPLIERS:
                (
                    await client.put(f"{system.url('aggregator')}/suppliers/{supplier}", json={"name": supplier})
                ).raise_for_status()
                (
                    await client.put(
                        f"{system.url('aggregator')}/suppliers/{supplier}/policy",
                        json={"min_units": args.min_units, "max_wait_seconds": 5},
                    )
                ).raise_for_status()
            products = [
                {
                    "sku": f"SKU-{s}",
                    "name": s,
                    "supplier_id": s,
                    "supplier_sku": f"S-{s}",
                    "price": "10",
                    "cost": "4",
                    "on_hand": 0,
                }
                for s in SUPPLIERS
            ]
            (await client.put(f"{system.url('orders')}/products", json=products)).raise_for_status()

        backlog = EmailBacklog(system.url("orders"))
        watching = asyncio.create_task(backlog.watch())
        started = time.perf_counter()
        placed, http_latencies = await push_orders(
            system.url("orders"), args.orders, args.concurrency, system.headers("storefront")
        )
        intake_seconds = time.perf_counter() - started
        while True:
            done = await released(system.url("aggregator"), system.headers("operations"))
            if set(done) >= set(placed) or time.perf_counter() - started > 600:
                break
            await asyncio.sleep(0.5)
        while backlog.current and time.perf_counter() - started < 600:
            await asyncio.sleep(0.5)
        watching.cancel()
        emailed = await email_delays(
            system.url("orders"), sorted({line.rsplit("-", 1)[0] for line in placed}), system.headers("storefront")
        )
        total_seconds = max(done.values()).timestamp() - min(placed.values()).timestamp()
        to_po = [(done[line] - placed[line]).total_seconds() * 1000 for line in placed if line in done]
        print(
            f"storage: {'PostgreSQL' if args.postgres else 'SQLite'}; orders: {args.orders}; "
            f"concurrency: {args.concurrency}; min units per PO: {args.min_units}; suppliers: {len(SUPPLIERS)}"
        )
        print(
            f"order intake: {args.orders / intake_seconds:.0f} orders/s; POST /orders p50 "
            f"{statistics.median(http_latencies) * 1000:.1f} ms, p99 {percentile(http_latencies, 0.99) * 1000:.1f} ms"
        )
        print(
            f"backorder lines released to POs: {len(done)} of {len(placed)} in {total_seconds:.1f} s "
            f"= {len(done) / total_seconds:.0f} lines/s"
        )
        print(
            f"order-to-PO latency: p50 {percentile(to_po, 0.5):.0f} ms, p90 {percentile(to_po, 0.9):.0f} ms, "
            f"p99 {percentile(to_po, 0.99):.0f} ms, max {max(to_po):.0f} ms"
        )
        print(
            f"customer emails: backlog peak {backlog.peak:.0f}, oldest unsent up to {backlog.oldest_seconds:.1f} s; "
            f"creation→sent over {len(emailed)} sampled: p50 {percentile(emailed, 0.5):.2f} s, "
            f"p99 {percentile(emailed, 0.99):.2f} s, max {max(emailed):.2f} s"
        )
        print("resident memory: " + ", ".join(f"{k} {v:.0f} MB" for k, v in memory_mb(system).items()))
    finally:
        system.stop()


if __name__ == "__main__":
    asyncio.run(main())
