"""Aggregator benchmark (a script that prints figures, not a timed test).

One aggregator process (a real process, started by devstack) and 1,000 suppliers whose minimums
are out of reach, so nothing is released while the pending lines pile up. Every measured
backorder is a backorder.created event published through RabbitMQ into the service's queue
while it is stopped; the service is then started and drains the queue, and its own /metrics
counter says how many it has consumed, decided and acked. Printed:

- backorders/s consumed and decided with ~10k and with ~100k lines pending (the decision is
  O(1) in the pending lines: the two rates should be about equal), and the service's CPU use;
- the first touch of each supplier after a restart (it reloads that supplier's pending lines);
- release latency: for `--releases` suppliers the minimum is set so that one more backorder
  reaches it; that backorder is published (timestamped) and the purchase_order.requested event
  is received on a queue of our own: latency = receive time - publish time, p50/p90/p99;
- resident memory of the aggregator process and the machine's load average.

How the pending lines get there (`--preload`):
- `database` (default, minutes): the lines are written straight into the stopped service's
  tables (the rows its own handler writes, plus each supplier's counters and a new batch
  version), so the service starts exactly as after a restart with that many lines pending.
  Levels (`--levels 10000,100000`) are measured in turn: top up, then warm-up (one backorder
  per supplier) and `--window` backorders through the broker.
- `broker` (the whole way through the service; slow: ~20-40 min on a busy 2-core machine):
  `--pending` + `--window` backorders are published and drained in one go; the rate is printed
  per `--window` backorders, from 0 to --pending + --window lines pending.

    .venv/bin/python scripts/bench_aggregator.py --storage sqlite
    .venv/bin/python scripts/bench_aggregator.py --storage postgres \\
        [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
    options: --suppliers 1000 --levels 10000,100000 --window 10000 --releases 250
             --release-rate 3 --preload database|broker --pending 100000 (broker mode)
             --profile-seconds 30 (py-spy the aggregator during the last measured window)

PostgreSQL gets a fresh database per run, dropped at the end; SQLite a file in a temporary
directory, removed at the end (--keep keeps it, the service log and the profile).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import aio_pika
import httpx
import psutil
from bench_support import (
    Profile,
    delete_topology,
    fresh_postgres_database,
    latency_line,
    load_average,
    machine_line,
    rss_mb,
)
from sqlalchemy import bindparam, insert, update

from aggregator.adapters.orm import backorder_lines, suppliers
from devstack import SERVICES, ServiceProcess, System, free_port
from dropship_shared.broker_cluster import connect_to_cluster
from dropship_shared.db import create_engine
from dropship_shared.events import Address, BackorderCreated, Envelope
from dropship_shared.messaging import Broker

SHIP_TO = Address(name="Bench Customer", address_lines=["1 Main St"], city="Springfield", postal_code="1", country="US")
UNIT_COST = Decimal("4.25")
UNREACHABLE_POLICY = {"min_units": 10_000_000, "max_wait_seconds": 30 * 24 * 3600, "on_deadline": "release"}
CONSUMED = re.compile(r'^events_consumed_total\{[^}]*event_type="backorder\.created"[^}]*\}\s+([0-9.e+]+)', re.M)
RELAYED = re.compile(r'^events_published_total\{event_type="batch\.release_expected"\}\s+([0-9.e+]+)', re.M)
PUBLISH_CHUNK = 2000


def supplier_id(n: int) -> str:
    return f"sup{n:04d}"


@dataclass
class Ledger:
    """What we have put into the aggregator, per supplier (it must agree with the service)."""

    run: str
    supplier_count: int
    next_number: int = 0
    lines: dict[str, int] = field(default_factory=dict)
    units: dict[str, int] = field(default_factory=dict)
    oldest: dict[str, datetime] = field(default_factory=dict)

    @property
    def pending(self) -> int:
        return sum(self.lines.values())

    def take(self, count: int) -> Iterator[tuple[int, str, int]]:
        """The next `count` backorders: (number, supplier, quantity), suppliers in turn."""
        for _ in range(count):
            n = self.next_number
            self.next_number += 1
            supplier = supplier_id(n % self.supplier_count)
            yield n, supplier, self.book(supplier, 1 + (n // self.supplier_count) % 3)

    def book(self, supplier: str, quantity: int) -> int:
        self.lines[supplier] = self.lines.get(supplier, 0) + 1
        self.units[supplier] = self.units.get(supplier, 0) + quantity
        self.oldest.setdefault(supplier, datetime.now(UTC))
        return quantity


def backorder_of(run: str, n: int, supplier: str, quantity: int) -> BackorderCreated:
    return BackorderCreated(
        backorder_line_id=f"{run}-bl{n}",
        order_id=f"{run}-o{n}",
        line_no=1,
        sku=f"SKU-{supplier}-{n % 7}",
        supplier_id=supplier,
        supplier_sku=f"VS-{n % 7}",
        quantity=quantity,
        unit_cost=UNIT_COST,
        ship_to=SHIP_TO,
        customer_ref=f"o{n}",
        ordered_at=datetime.now(UTC),
    )


def envelopes(ledger: Ledger, count: int) -> list[Envelope]:
    return [
        Envelope.wrap(backorder_of(ledger.run, n, supplier, quantity), correlation_id=f"bench-{n}")
        for n, supplier, quantity in ledger.take(count)
    ]


async def seed_pending(database_url: str, ledger: Ledger, count: int) -> float:
    """Write `count` pending lines as the service's handler would, into its stopped database; seconds."""
    started = time.perf_counter()
    engine = create_engine(database_url)
    rows = []
    for n, supplier, quantity in ledger.take(count):
        line = backorder_of(ledger.run, n, supplier, quantity)
        rows.append(
            {
                "backorder_line_id": line.backorder_line_id,
                "supplier_id": supplier,
                "status": "pending",
                "sku": line.sku,
                "supplier_sku": line.supplier_sku,
                "quantity": quantity,
                "unit_cost": line.unit_cost,
                "received_at": line.ordered_at,
                "details": {
                    "order_id": line.order_id,
                    "line_no": line.line_no,
                    "customer_ref": line.customer_ref,
                    "currency": line.currency,
                    "ship_to": line.ship_to.model_dump(mode="json"),
                },
            }
        )
    try:
        async with engine.begin() as connection:
            for first in range(0, len(rows), 5000):
                await connection.execute(insert(backorder_lines), rows[first : first + 5000])
            statement = (
                update(suppliers)
                .where(suppliers.c.supplier_id == bindparam("sid"))
                .values(
                    batch_version=suppliers.c.batch_version + 1,  # the service reloads these batches
                    pending_lines=bindparam("lines"),
                    pending_units=bindparam("units"),
                    pending_value=bindparam("value"),
                    oldest_received_at=bindparam("oldest"),
                )
            )
            await connection.execute(
                statement,
                [
                    {
                        "sid": s,
                        "lines": ledger.lines[s],
                        "units": ledger.units[s],
                        "value": ledger.units[s] * UNIT_COST,
                        "oldest": ledger.oldest[s],
                    }
                    for s in ledger.lines
                ],
            )
    finally:
        await engine.dispose()
    return time.perf_counter() - started


async def metric(client: httpx.AsyncClient, url: str, pattern: re.Pattern[str]) -> int:
    text = (await client.get(f"{url}/metrics")).text
    return int(sum(float(value) for value in pattern.findall(text)))


async def configure_suppliers(url: str, headers: dict[str, str], count: int, concurrency: int = 8) -> float:
    """Register the suppliers with minimums nothing reaches; returns seconds."""
    semaphore = asyncio.Semaphore(concurrency)
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:

        async def one(n: int) -> None:
            async with semaphore:
                (await client.put(f"/suppliers/{supplier_id(n)}", json={"name": f"Supplier {n}"})).raise_for_status()
                (await client.put(f"/suppliers/{supplier_id(n)}/policy", json=UNREACHABLE_POLICY)).raise_for_status()

        await asyncio.gather(*(one(n) for n in range(count)))
    return time.perf_counter() - started


async def publish_all(broker: Broker, batch: list[Envelope]) -> float:
    """Publish with broker confirms, PUBLISH_CHUNK in flight at a time; returns seconds."""
    started = time.perf_counter()
    for first in range(0, len(batch), PUBLISH_CHUNK):
        await asyncio.gather(*(broker.publish(e) for e in batch[first : first + PUBLISH_CHUNK]))
    return time.perf_counter() - started


@dataclass
class Drain:
    """Polls of the service while it drains its queue: (time, consumed) and (time, CPU seconds)."""

    started: float
    samples: list[tuple[float, int]]
    cpu: list[tuple[float, float]]
    profiler: Profile | None

    def reached(self, count: int) -> float:
        """When the consumed counter reached `count` (linear interpolation between polls)."""
        if count == 0:  # the last poll before anything was consumed (start-up excluded)
            return max(t for t, c in self.samples if c == 0)
        previous = self.samples[0]
        for sample in self.samples:
            if sample[1] >= count:
                (t0, c0), (t1, c1) = previous, sample
                return t1 if c1 == c0 else t0 + (t1 - t0) * (count - c0) / (c1 - c0)
            previous = sample
        return self.samples[-1][0]

    def rate(self, low: int, high: int) -> float:
        return (high - low) / (self.reached(high) - self.reached(low))

    def cpu_share(self, low: int, high: int) -> float:
        """Service CPU seconds per wall second while consuming low..high (1.0 = one core busy)."""
        start, end = self.reached(low), self.reached(high)
        inside = [c for c in self.cpu if start <= c[0] <= end]
        if len(inside) < 2:
            return float("nan")
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


async def drain(
    service: ServiceProcess, total: int, poll: float, profile_at: int | None, profile: tuple[float, Path] | None
) -> Drain:
    """Start the (stopped) service and poll its consumed counter until it has handled `total`."""
    started = time.perf_counter()
    service.start()
    assert service.process is not None
    pid = service.process.pid
    process = psutil.Process(pid)
    result = Drain(started, [(started, 0)], [], None)
    last_progress = started
    async with httpx.AsyncClient(timeout=30) as client:
        while result.samples[-1][1] < total:
            await asyncio.sleep(poll)
            if service.process.poll() is not None:
                raise RuntimeError(f"aggregator exited; see {service.log_path}")
            try:
                consumed = await metric(client, service.url, CONSUMED)
            except httpx.HTTPError:
                continue  # still starting
            now = time.perf_counter()
            times = process.cpu_times()
            result.cpu.append((now, times.user + times.system))
            if consumed > result.samples[-1][1]:
                last_progress = now
            elif now - last_progress > 90:
                raise RuntimeError(f"no progress for 90 s at {consumed} of {total} consumed")
            result.samples.append((now, consumed))
            if profile and profile_at is not None and result.profiler is None and consumed >= profile_at:
                result.profiler = Profile(pid, profile[0], profile[1])
    return result


async def wait_relayed(url: str, count: int, timeout: float = 600, quiet: float = 2.0) -> float:
    """Wait until the outbox relay is done: its published counter stopped moving for `quiet` seconds.

    (The aggregator publishes batch.release_expected only when a batch's estimate moves, so the
    number of events per backorder is not fixed; `count` only bounds the wait.)"""
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=60) as client:
        last, since = -1.0, time.perf_counter()
        while True:
            relayed = await metric(client, url, RELAYED)
            now = time.perf_counter()
            if relayed != last:
                last, since = relayed, now
            elif now - since >= quiet:
                return since - started
            if now - started > timeout:
                raise RuntimeError(f"outbox relay still publishing after {timeout} s ({relayed} of up to {count})")
            await asyncio.sleep(0.25)


async def check_pending(url: str, headers: dict[str, str], expected: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=120, headers=headers) as client:
        started = time.perf_counter()
        statuses = (await client.get("/suppliers")).raise_for_status().json()
        listed = time.perf_counter() - started
    pending = sum(s["pending_lines"] for s in statuses)
    print(f"  GET /suppliers ({len(statuses)} suppliers) took {listed * 1000:.0f} ms: {pending} lines pending")
    if pending != expected:
        raise RuntimeError(f"expected {expected} pending lines, the service reports {pending}")


async def release_latency(
    broker: Broker,
    amqp_url: str,
    exchange: str,
    aggregator_url: str,
    headers: dict[str, str],
    ledger: Ledger,
    chosen: list[str],
    rate: float,
) -> tuple[list[float], float, float]:
    """Make one more backorder reach each chosen supplier's minimum; time backorder publish → PO event."""
    async with httpx.AsyncClient(base_url=aggregator_url, timeout=60, headers=headers) as client:
        for supplier in chosen:  # the closing backorder has quantity 1: minimum = pending units + 1
            policy = {**UNREACHABLE_POLICY, "min_units": ledger.units[supplier] + 1}
            (await client.put(f"/suppliers/{supplier}/policy", json=policy)).raise_for_status()
    published: dict[str, float] = {}
    received: dict[str, float] = {}
    lines_per_po: list[int] = []
    done = asyncio.Event()
    connection = await connect_to_cluster(amqp_url)
    try:
        channel = await connection.channel()
        topic = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(topic, routing_key="purchase_order.requested")

        async def on_po(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            at = time.perf_counter()
            async with message.process():
                payload = json.loads(message.body)["payload"]
                received.setdefault(payload["supplier_id"], at)
                lines_per_po.append(len(payload["lines"]))
                if len(received) >= len(chosen):
                    done.set()

        await queue.consume(on_po)
        closing = []
        for supplier in chosen:
            n = ledger.next_number
            ledger.next_number += 1
            ledger.book(supplier, 1)
            closing.append(Envelope.wrap(backorder_of(ledger.run, n, supplier, 1), correlation_id=f"bench-{n}"))
        started = time.perf_counter()
        for i, (supplier, envelope) in enumerate(zip(chosen, closing, strict=True)):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            published[supplier] = time.perf_counter()
            await broker.publish(envelope)
        try:
            await asyncio.wait_for(done.wait(), timeout=120)
        except TimeoutError:
            print(f"  (only {len(received)} of {len(chosen)} purchase orders arrived within 120 s)")
    finally:
        await connection.close()
    for supplier in chosen:
        ledger.lines[supplier] = ledger.units[supplier] = 0
    latencies = [received[s] - published[s] for s in chosen if s in received]
    span = max(received.values(), default=started) - started
    return latencies, (sum(lines_per_po) / len(lines_per_po) if lines_per_po else 0.0), len(received) / span


def print_windows(
    result: Drain, first: int, last: int, window: int, offset: int, profiled_from: int | None
) -> dict[int, float]:
    """Rate per `window` consumed backorders from `first` to `last`; labelled by lines pending (offset + consumed)."""
    print(f"  {'pending lines':>17}  {'backorders/s':>12}  {'aggregator CPU':>14}  {'ms CPU/backorder':>16}")
    rates = {}
    for low in range(first, last, window):
        high = min(last, low + window)
        rates[offset + low] = result.rate(low, high)
        share = result.cpu_share(low, high)
        note = ""
        note += " (py-spy attached)" if profiled_from is not None and high > profiled_from else ""
        print(
            f"  {offset + low:>7} → {offset + high:<7}  {rates[offset + low]:>12.0f}  "
            f"{share:>13.0%}  {1000 * share / rates[offset + low]:>16.3f}{note}"
        )
    return rates


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--preload", choices=["database", "broker"], default="database")
    parser.add_argument("--suppliers", type=int, default=1000)
    parser.add_argument("--levels", default="10000,100000", help="database mode: pending lines measured at")
    parser.add_argument("--pending", type=int, default=100_000, help="broker mode: lines before the last window")
    parser.add_argument("--window", type=int, default=10_000, help="backorders per measured window")
    parser.add_argument("--releases", type=int, default=250, help="releases timed for the latency figures")
    parser.add_argument(
        "--release-rate", type=float, default=3.0, help="closing backorders published per second (below capacity)"
    )
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between /metrics polls")
    parser.add_argument("--profile-seconds", type=float, default=0, help="py-spy the last window (0: no profile)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (log, SQLite file, profile)")
    args = parser.parse_args()
    if args.releases > args.suppliers:
        parser.error("--releases cannot exceed --suppliers")
    levels = sorted(int(level) for level in args.levels.split(","))
    run = uuid.uuid4().hex[:6]
    exchange, prefix = f"bench-{run}", f"bench-{run}."
    queue = f"{prefix}aggregator"
    workdir = Path(tempfile.mkdtemp(prefix="dropship-bench-aggregator-"))
    profile = (args.profile_seconds, workdir / "aggregator.pyspy.txt") if args.profile_seconds else None
    print(machine_line())
    print(
        f"storage: {args.storage}; suppliers: {args.suppliers}; preload: {args.preload}; "
        f"window: {args.window} backorders; work dir {workdir}",
        flush=True,
    )

    async with AsyncExitStack() as stack:
        databases = {}
        if args.storage == "postgres":
            databases["aggregator"] = await stack.enter_async_context(
                fresh_postgres_database(args.postgres, f"bench_{run}_aggregator")
            )
        system = System(
            workdir,
            amqp_url=args.amqp_url,
            exchange=exchange,
            queue_prefix=prefix,
            database_urls=databases,
            ports={name: free_port() for name in SERVICES},
        )
        service = system.services["aggregator"]
        stack.callback(lambda: None if args.keep else shutil.rmtree(workdir, ignore_errors=True))
        stack.push_async_callback(delete_topology, args.amqp_url, exchange, [queue])
        stack.callback(system.stop)

        # Suppliers and policies (the service declares its queue on the way), then stop it.
        system.start("aggregator")
        seconds = await configure_suppliers(service.url, system.headers("admin"), args.suppliers)
        print(f"configured {args.suppliers} suppliers (register + policy) in {seconds:.1f} s", flush=True)
        service.stop()
        broker = Broker(args.amqp_url, exchange)
        await broker.connect()
        stack.push_async_callback(broker.close)
        ledger = Ledger(run, args.suppliers)
        profiler: Profile | None = None
        rates: dict[int, float] = {}

        if args.preload == "broker":
            total = args.pending + args.window
            seconds = await publish_all(broker, envelopes(ledger, total))
            print(f"published {total} backorder.created events in {seconds:.1f} s = {total / seconds:.0f}/s")
            result = await drain(service, total, args.poll, args.pending, profile)
            profiler = result.profiler
            relay = await wait_relayed(service.url, total)
            print(
                f"drained {total} backorders {result.samples[-1][0] - result.started:.1f} s after start; "
                f"outbox relay done {relay:.1f} s later; {load_average()}"
            )
            rates = print_windows(result, 0, total, args.window, 0, args.pending if profiler else None)
            await check_pending(service.url, system.headers("operations"), ledger.pending)
        else:
            database_url = service.env["DATABASE_URL"]
            for index, level in enumerate(levels):
                if service.process and service.process.poll() is None:
                    service.stop()
                if level > ledger.pending:
                    count = level - ledger.pending
                    seconds = await seed_pending(database_url, ledger, count)
                    print(f"seeded {count} pending lines into the stopped service's database in {seconds:.1f} s")
                warmup, total = args.suppliers, args.suppliers + args.window
                offset = ledger.pending
                seconds = await publish_all(broker, envelopes(ledger, total))
                print(
                    f"level {level}: published {warmup} warm-up + {args.window} measured backorder.created "
                    f"in {seconds:.1f} s = {total / seconds:.0f}/s; starting the service",
                    flush=True,
                )
                last = index == len(levels) - 1
                result = await drain(service, total, args.poll, warmup if last else None, profile)
                profiler = result.profiler or profiler
                relay = await wait_relayed(service.url, total)
                first = next(t for t, c in result.samples if c > 0)
                print(
                    f"  first backorder consumed {first - result.started:.1f} s after start; warm-up (first touch "
                    f"of each supplier reloads its ~{offset // args.suppliers} pending lines): "
                    f"{result.rate(0, warmup):.0f}/s; outbox relay done {relay:.1f} s after the last one; "
                    f"{load_average()}"
                )
                profiled_from = warmup if result.profiler else None
                rates.update(print_windows(result, warmup, total, args.window, offset, profiled_from))
                assert service.process is not None
                print(f"  aggregator resident memory: {rss_mb(service.process.pid):.0f} MB", flush=True)
            await check_pending(service.url, system.headers("operations"), ledger.pending)

        low_key = min(rates, key=lambda k: abs(k - 10_000))
        high_key = min(rates, key=lambda k: abs(k - 100_000))
        print(
            f"backorders/s consumed and decided: {rates[low_key]:.0f}/s at {low_key} pending, "
            f"{rates[high_key]:.0f}/s at {high_key} pending (ratio {rates[high_key] / rates[low_key]:.2f})",
            flush=True,
        )

        # Release latency: the minimum reached → purchase_order.requested published.
        step = args.suppliers // args.releases
        chosen = [supplier_id(n * step) for n in range(args.releases)]
        latencies, lines, achieved = await release_latency(
            broker, args.amqp_url, exchange, service.url, system.headers("admin"), ledger, chosen, args.release_rate
        )
        print(
            latency_line(
                f"release latency (backorder reaching the minimum published → PO event received; "
                f"{args.release_rate:g} releases/s offered, {achieved:.1f}/s done, {lines:.0f} lines per PO)",
                latencies,
            )
        )
        assert service.process is not None
        print(f"aggregator resident memory: {rss_mb(service.process.pid):.0f} MB; {load_average()}", flush=True)
        if profiler is not None and profiler.wait():
            print(profiler.summary())


if __name__ == "__main__":
    asyncio.run(main())
