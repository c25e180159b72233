"""What the operations console costs: the whole system (SQLite) with N orders released into POs, then each console
call the page makes while it is open, timed (p50 / p95 / max over repeated calls), and the page's own weight.

    .venv/bin/python scripts/bench_console.py [--orders 200] [--repeat 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from devstack import SERVICES, System, free_port
from dropship_shared.broker_cluster import connect_to_cluster

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "services/aggregator/aggregator/entrypoints/static"
SHIP_TO = {
    "name": "Ann Lee",
    "address_lines": ["1 Main St"],
    "city": "Springfield",
    "postal_code": "62701",
    "country": "US",
}


def timed(client: httpx.Client, path: str, repeat: int) -> tuple[float, float, float, int]:
    seconds = []
    size = 0
    for _ in range(repeat):
        started = time.perf_counter()
        answer = client.get(path)
        seconds.append(time.perf_counter() - started)
        answer.raise_for_status()
        size = len(answer.content)
    seconds.sort()
    return statistics.median(seconds), seconds[int(0.95 * (len(seconds) - 1))], seconds[-1], size


async def drop_queues(amqp_url: str, prefix: str) -> None:
    connection = await connect_to_cluster(amqp_url)
    channel = await connection.channel()
    for name in SERVICES:
        for queue in (f"{prefix}{name}", f"{prefix}{name}.dlq"):
            await channel.queue_delete(queue)
    await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench-console-{tag}."
    with tempfile.TemporaryDirectory() as workdir:
        system = System(
            Path(workdir),
            amqp_url=args.amqp_url,
            exchange=f"bench-console-{tag}",
            queue_prefix=prefix,
            ports={name: free_port() for name in SERVICES},
        )
        try:
            system.start()
            system.configure_demo()
            with httpx.Client(timeout=60, headers=system.headers()) as client:
                client.put(
                    f"{system.url('aggregator')}/suppliers/acme/policy", json={"min_units": 5, "max_wait_seconds": 3600}
                ).raise_for_status()
                started = time.perf_counter()
                for number in range(args.orders):
                    body = {
                        "customer_email": f"customer{number}@example.com",
                        "ship_to": SHIP_TO,
                        "lines": [{"sku": "TABLE-OAK", "quantity": 1}],
                    }
                    client.post(f"{system.url('orders')}/orders", json=body).raise_for_status()
                wanted = args.orders // 5
                while (
                    len(client.get(f"{system.url('aggregator')}/purchase-orders", params={"limit": 500}).json())
                    < wanted
                ):
                    time.sleep(0.5)
                print(f"{args.orders} orders, {wanted} POs released in {time.perf_counter() - started:.1f} s")
                aggregator = system.url("aggregator")
                po = client.get(f"{aggregator}/purchase-orders", params={"limit": 1}).json()[0]["po_number"]
                print(f"{'console call':<58} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'bytes':>8}")
                for path in (
                    "/dashboard/overview",
                    "/dashboard/suppliers",
                    "/dashboard/suppliers/acme",
                    "/dashboard/purchase-orders",
                    "/dashboard/purchase-orders?state=shipped",
                    "/dashboard/purchase-orders?q=customer7@example.com",
                    f"/dashboard/purchase-orders/{po}",
                    "/dashboard/exceptions",
                    "/dashboard/customers-at-risk",
                    "/dashboard/dead-letters",
                    "/dashboard/activity",
                ):
                    p50, p95, worst, size = timed(client, aggregator + path, args.repeat)
                    print(f"{path:<58} {p50 * 1000:7.0f} {p95 * 1000:7.0f} {worst * 1000:7.0f} {size:8d}")
        finally:
            system.stop()
            asyncio.run(drop_queues(args.amqp_url, prefix))
    weight = {name: (STATIC / name).stat().st_size for name in ("dashboard.html", "dashboard.js", "dashboard.css")}
    print("page weight (bytes, uncompressed):", weight, "total", sum(weight.values()))


if __name__ == "__main__":
    main()
