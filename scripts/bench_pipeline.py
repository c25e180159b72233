"""The pipeline benchmark (not a test): the system's figures next to this machine's ceilings, in one run.

    .venv/bin/python scripts/bench_pipeline.py [--postgres URL] [--seconds 15] [--storage sqlite,postgres]
                                                [--replicas N] [--ceiling-rounds 3] [--ceiling-seconds 2]
                                                [--profile DIR] [--lines-per-order N] [--history-seconds 3]
                                                [--message-sender separate|in_process]

Ceilings, measured first with the same tools the system is measured with. A ceiling is what this machine can
reach, and on a shared machine one short try says more about the neighbours than about the machine: each is
measured in `--ceiling-rounds` rounds of `--ceiling-seconds` after a warm-up round that is not counted, and
printed as the best round (the ceiling every ratio uses) with the median, every round and the spread:
- the raw broker: aio-pika publishing messages of a backorder event's size, persistent, with publisher
  confirms, into a quorum queue declared like the services' queues (a round lasts its seconds and at least
  `--broker-messages`); then consuming and acking that round's messages;
- a trivial FastAPI endpoint validating the same order body as `POST /orders`, served by one uvicorn process
  like each service, driven by the same multi-process load generator (scripts/loadgen.py).

Then, for each storage engine, the orders and aggregator services as processes, after a history that is not
measured: `--history-seconds` of orders like the sustained phase's, every line released, then on PostgreSQL
the databases analysed (ANALYZE), so the phases run on tables with the statistics a running system's autovacuum
keeps, not on a database made a second ago (`--history-seconds 0` measures that one):
- `POST /orders` sustained rate (single-line backordered orders, closed loop, `--seconds`) / the trivial
  endpoint's ceiling;
- end to end, two figures, each / the raw publish ceiling:
  - steady state: backorder lines released to POs per second while intake ran. For each supplier, the lines
    of its POs released after its first PO (the fill to its minimum is left out) up to its last PO released
    before the last order was placed (the drain, where the last partial batch waits up to the max wait after
    intake stopped, is left out), over the time between those two POs; the suppliers' rates added up. The rate
    lines were taken at over the same windows is computed alike, and the sustained rate is the lower of the
    two: lines released after intake stopped do not count, so a pipeline that falls behind shows its own rate,
    and one that catches up a backlog within the window (releases above intake) shows intake's;
  - first order placed → last line released: every line over the whole span, fill and max-wait drain
    included (with the default 20-unit minimum and 5 s max wait an 8 s phase spans about 13 s);
- order-to-PO latency percentiles at 80 % of the sustained rate (the lower of `POST /orders` and the steady
  end-to-end rate; open loop, fixed schedule), with a minimum of 1 unit per PO so the figure is the pipeline's
  latency, not the wait for a batch to fill;
- `GET /orders/{id}` latency while a 200-line backordered order is taken and its events handled;
- with `--lines-per-order N` (N > 1), after the 80 % phase, a second sustained phase like the first with orders of N
  lines, each of another supplier (a customer's basket rather than a flash sale's single item): the same figures,
  backorder lines/s beside orders/s, so what a line costs the pipeline shows apart from what a request costs;
- where the CPU goes while intake runs: the CPU time of every process involved (each service, the load
  generator's processes, the SMTP sink, the RabbitMQ node, on PostgreSQL the run's backends and the server's
  own processes, py-spy when profiling, this script), as a share of a core and per backorder line taken, and
  the machine's busy share from /proc/stat, so what limits the rate shows (one process at 100 % of a core, or
  the machine busy); the broker and the PostgreSQL server serve everyone on the machine, so theirs include
  others' work. The same over the ceilings' rounds, per message and per request. The services' CPU time per
  backorder line from intake to the last PO is printed too (the figure earlier runs compared), and for the 80 %
  phase with what this bench's own reads of the POs cost (the same reads again: a PO per line there, each read
  back over HTTP);
- with `--profile DIR` a py-spy profile of each service over the sustained phase only (from just before the
  first order to the last answer);
- the services' resident memory (peak, sampled), and the customer-message backlog the sender exports.

The customer messages are sent by a process of their own (`orders-sender`, `python -m orders send-messages`, orders
run with MESSAGE_SENDER=separate), a row of its own in the CPU and memory figures; `--message-sender in_process`
runs them in the orders process as before, for comparisons.

Everything a run declares on the broker (the ceiling's queue, the services' exchanges, queues, DLQs and
partitions) and its PostgreSQL databases are deleted at the end, and the run checks that none is left.

With `--replicas N` (PostgreSQL only) each service runs as N processes sharing its port (devstack's
HTTP_REUSE_PORT: the kernel spreads the load generator's connections over them); the CPU and memory figures are per
process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import aio_pika
import httpx
import psutil
from bench_support import (
    Ceiling,
    CpuAccount,
    CpuReport,
    EndToEnd,
    ProcessFinder,
    Profile,
    broker_processes,
    database_processes,
    databases_named,
    delete_topology,
    end_to_end,
    fresh_postgres_database,
    latency_line,
    left_on_broker,
    machine_line,
)
from fastapi import FastAPI, status
from loadgen import LoadResult, LoadRun, Target, generate_load

from devstack import System, free_port
from dropship_shared.broker_cluster import connect_to_cluster
from dropship_shared.events import Address, BackorderCreated, Envelope
from orders.entrypoints.schemas import OrderIn

SUPPLIERS = [f"sup{n}" for n in range(10)]
SHIP_TO = {"name": "Bench", "address_lines": ["1 Main St"], "city": "Springfield", "postal_code": "1", "country": "US"}
BIG_ORDER_LINES = 200
SUPPLIER_OF = {f"SKU-{s}": s for s in SUPPLIERS} | {
    f"BIG-{n}": SUPPLIERS[n % len(SUPPLIERS)] for n in range(BIG_ORDER_LINES)
}  # the catalog: each product's supplier
MAX_WAIT_SECONDS = 5


def order_body(sku: str, quantity: int = 1, lines: int = 1) -> bytes:
    return json.dumps(
        {
            "customer_email": "bench@example.com",
            "ship_to": SHIP_TO,
            "lines": [{"sku": sku if lines == 1 else f"{sku}-{n}", "quantity": quantity} for n in range(lines)],
        }
    ).encode()


def backorder_event_bytes() -> bytes:
    """A real backorder.created envelope: the size the services publish."""
    payload = BackorderCreated(
        backorder_line_id=uuid.uuid4().hex,
        order_id=uuid.uuid4().hex,
        line_no=1,
        sku="SKU-sup1",
        supplier_id="sup1",
        supplier_sku="S-sup1",
        quantity=2,
        unit_cost=Decimal("4.00"),
        ship_to=Address.model_validate(SHIP_TO),
        customer_ref=uuid.uuid4().hex,
        ordered_at=datetime.now(UTC),
    )
    return Envelope.wrap(payload, correlation_id=uuid.uuid4().hex).to_bytes()


# --- ceilings -------------------------------------------------------------------------------------


async def publish_round(
    channel: aio_pika.abc.AbstractChannel, queue_name: str, body: bytes, seconds: float, at_least: int, in_flight: int
) -> tuple[int, float]:
    """(messages, msg/s): persistent messages published with confirms, `in_flight` at a time, for `seconds`
    and at least `at_least` messages."""
    sent = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def publisher() -> None:
        nonlocal sent
        while time.perf_counter() < deadline or sent < at_least:
            sent += 1
            message = aio_pika.Message(
                body, content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT
            )
            await channel.default_exchange.publish(message, routing_key=queue_name, timeout=30)

    await asyncio.gather(*(publisher() for _ in range(in_flight)))
    return sent, sent / (time.perf_counter() - started)


async def consume_round(queue: aio_pika.abc.AbstractQueue, count: int) -> float:
    """msg/s: consuming and acking `count` messages (prefetch 64)."""
    done = asyncio.Event()
    received = 0

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal received
        await message.ack()
        received += 1
        if received >= count:
            done.set()

    started = time.perf_counter()
    tag = await queue.consume(on_message)
    await asyncio.wait_for(done.wait(), timeout=300)
    rate = count / (time.perf_counter() - started)
    await queue.cancel(tag)
    return rate


@dataclass(frozen=True)
class BrokerCeiling:
    publish: Ceiling
    consume: Ceiling
    message_bytes: int
    cpu: CpuReport
    messages: int  # published (and consumed) over the counted rounds


async def broker_ceiling(
    amqp_url: str, run: str, rounds: int, seconds: float, at_least: int, in_flight: int = 64
) -> BrokerCeiling:
    """Publish then consume rates on a quorum queue with confirms and persistence, round after round after a
    warm-up round (the queue's first writes, the connection's first frames) that is not counted."""
    body = backorder_event_bytes()
    queue_name = f"bench-{run}.ceiling"
    connection = await connect_to_cluster(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(
            queue_name, durable=True, arguments={"x-queue-type": "quorum", "x-delivery-limit": 5}
        )
        consumer_channel = await connection.channel()
        await consumer_channel.set_qos(prefetch_count=64)
        queue = await consumer_channel.get_queue(queue_name)
        warm_up, _ = await publish_round(channel, queue_name, body, min(1.0, seconds), 0, in_flight)
        await consume_round(queue, warm_up)
        publish, consume, messages = [], [], 0

        def involved() -> dict[int, str]:
            return {**broker_processes(), os.getpid(): "bench (publisher and consumer)"}

        with CpuAccount(involved) as cpu:
            for _ in range(rounds):
                sent, rate = await publish_round(channel, queue_name, body, seconds, at_least, in_flight)
                publish.append(rate)
                messages += sent
                consume.append(await consume_round(queue, sent))
        assert cpu.report is not None
        return BrokerCeiling(
            Ceiling(tuple(publish), "msg/s"), Ceiling(tuple(consume), "msg/s"), len(body), cpu.report, messages
        )
    finally:
        with contextlib.suppress(Exception):
            cleanup = await connection.channel()
            await cleanup.queue_delete(queue_name)
        await connection.close()


def trivial_app() -> FastAPI:
    """The trivial endpoint: validates the order body exactly as orders does, stores nothing."""
    app = FastAPI()

    @app.post("/orders", status_code=status.HTTP_201_CREATED)
    async def post_order(body: OrderIn) -> dict[str, object]:
        return {"order_id": uuid.uuid4().hex, "lines": len(body.lines)}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve_trivial(port: int) -> None:
    """Served as the services are (`dropship_shared.service_main`: uvicorn's settings, the startup heap frozen)."""
    from dropship_shared.service_main import ServiceServer, uvicorn_config

    ServiceServer(uvicorn_config(trivial_app(), "127.0.0.1", port)).run()


@contextlib.contextmanager
def trivial_server() -> Iterator[tuple[int, int]]:
    """(port, pid) of the trivial endpoint's process while the block runs."""
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve-trivial", str(port)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(15)


@dataclass(frozen=True)
class HttpCeiling:
    rate: Ceiling
    best: LoadResult
    cpu: CpuReport
    requests: int  # over the counted rounds


def http_ceiling(rounds: int, seconds: float, connections: int) -> HttpCeiling:
    """The trivial endpoint's rate, closed loop, round after round after a warm-up round that is not counted."""
    with trivial_server() as (port, pid):
        target = Target(port, "POST", "/orders", (order_body("SKU-sup0", quantity=2),))
        generate_load(target, seconds=min(1.0, seconds), connections=connections)
        results, reports = [], []

        def involved() -> dict[int, str]:
            return {pid: "trivial endpoint (one uvicorn process)", os.getpid(): "bench"}

        for _ in range(rounds):
            with LoadRun(target, seconds=seconds, connections=connections) as load, CpuAccount(involved) as cpu:
                results.append(load.run())
            assert cpu.report is not None
            reports.append(cpu.report.with_({f"load generator ({load.processes} processes)": results[-1].cpu_seconds}))
    return HttpCeiling(
        Ceiling(tuple(result.rate for result in results), "req/s"),
        max(results, key=lambda result: result.rate),
        CpuReport.added_up(reports),
        sum(result.requests for result in results),
    )


# --- the system -----------------------------------------------------------------------------------


class MemoryPeaks:
    """Samples the services' resident memory every 0.5 s in a thread; keeps each one's peak (MiB)."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            for name, service in self.system.processes().items():
                if service.process and service.process.poll() is None:
                    with contextlib.suppress(psutil.Error):
                        rss = psutil.Process(service.process.pid).memory_info().rss / 2**20
                        self.peaks[name] = max(self.peaks.get(name, 0.0), rss)

    def stop(self) -> str:
        self._stop.set()
        self._thread.join()
        return ", ".join(f"{name} {mb:.0f} MB" for name, mb in sorted(self.peaks.items()))


def cpu_seconds(system: System) -> dict[str, float]:
    """User + system CPU each running service has used so far."""
    used = {}
    for name, service in system.processes().items():
        if service.process and service.process.poll() is None:
            times = psutil.Process(service.process.pid).cpu_times()
            used[name] = times.user + times.system
    return used


def involved(system: System, databases: list[str]) -> ProcessFinder:
    """Every process that works for the run: the services, the SMTP sink, the broker, the PostgreSQL server and
    the run's backends when it has `databases`, py-spy when profiling, this script (the load generator's workers
    report their own CPU)."""

    def find() -> dict[int, str]:
        found: dict[int, str] = {**broker_processes(), **(database_processes(databases) if databases else {})}
        for name, service in system.processes().items():
            if service.process and service.process.poll() is None:
                found[service.process.pid] = name
        if system.smtp_sink is not None:
            found[system.smtp_sink.pid] = "SMTP sink (the customers' mailbox)"
        for child in psutil.Process().children():
            with contextlib.suppress(psutil.Error):
                if child.name() == "py-spy":
                    found[child.pid] = "py-spy (profiling)"
        found[os.getpid()] = "bench (this script)"
        return found

    return find


def cpu_per_line(cpu_used: dict[str, float], lines: int) -> str:
    return ", ".join(f"{name} {1000 * used / lines:.1f} ms" for name, used in sorted(cpu_used.items()))


def profile_services(system: System, folder: Path, seconds: float) -> list[tuple[str, Profile]]:
    """py-spy on each running service, until stopped (at most `seconds`)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        (name, Profile(service.process.pid, seconds, folder / f"{name}.txt"))
        for name, service in system.processes().items()
        if service.process and service.process.poll() is None
    ]


def set_minimum(system: System, min_units: int) -> None:
    with httpx.Client(base_url=system.url("aggregator"), timeout=60, headers=system.headers("admin")) as client:
        for supplier in SUPPLIERS:
            client.put(
                f"/suppliers/{supplier}/policy", json={"min_units": min_units, "max_wait_seconds": MAX_WAIT_SECONDS}
            ).raise_for_status()


def product(sku: str, supplier: str) -> dict[str, object]:
    """A catalog product out of stock: each order of it is backordered."""
    return {
        "sku": sku,
        "name": sku,
        "supplier_id": supplier,
        "supplier_sku": f"S-{sku}",
        "price": "10",
        "cost": "4",
        "on_hand": 0,
    }


def configure(system: System, min_units: int) -> None:
    with httpx.Client(timeout=60, headers=system.headers("admin")) as client:
        for supplier in SUPPLIERS:
            client.put(f"{system.url('aggregator')}/suppliers/{supplier}", json={"name": supplier}).raise_for_status()
        set_minimum(system, min_units)

        products = [product(sku, supplier) for sku, supplier in SUPPLIER_OF.items()]
        client.put(f"{system.url('orders')}/products", json=products).raise_for_status()


def placed_lines(result: LoadResult) -> dict[str, tuple[str, datetime]]:
    """backorder line id → (supplier, when its order was placed), from the answers to POST /orders."""
    placed = {}
    for body in result.bodies:
        order = json.loads(body)
        for line in order["lines"]:
            if line.get("backordered_qty"):
                supplier = SUPPLIER_OF[line["sku"]]
                placed[line["backorder_line_id"]] = (supplier, datetime.fromisoformat(order["placed_at"]))
    return placed


def by_supplier(moments: Iterable[tuple[str, datetime]]) -> dict[str, list[float]]:
    """(supplier, moment) pairs as each supplier's moments in seconds."""
    found: dict[str, list[float]] = {}
    for supplier, moment in moments:
        found.setdefault(supplier, []).append(moment.timestamp())
    return found


def released_lines(system: System, wanted: set[str], timeout: float) -> dict[str, tuple[str, datetime]]:
    """backorder line id → (supplier, when its PO was released), polling until every wanted line is on a PO."""
    released: dict[str, tuple[str, datetime]] = {}
    seen_pos: set[str] = set()
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=system.url("aggregator"), timeout=60, headers=system.headers("operations")) as client:
        while time.monotonic() < deadline:
            offset = 0
            while True:
                page = client.get("/purchase-orders", params={"limit": 500, "offset": offset}).json()
                for po in page:
                    if po["po_number"] in seen_pos:
                        continue
                    seen_pos.add(po["po_number"])
                    detail = client.get(f"/purchase-orders/{po['po_number']}").json()
                    created = datetime.fromisoformat(detail["created_at"])
                    for line in detail["lines"]:
                        if line["backorder_line_id"]:
                            released[line["backorder_line_id"]] = (detail["supplier_id"], created)
                if len(page) < 500:
                    break
                offset += 500
            if wanted <= set(released):
                break
            time.sleep(0.5)
    return released


def consumer_counts(system: System, service: str) -> dict[str, float]:
    """A service's consumer counters so far (its replicas' added up): the group commit's events per transaction
    (sum and count) and the events it handled, by type (`events_consumed_total{event_type=...}`)."""
    counts: dict[str, float] = {}
    for replica in system.replica_processes[service]:
        text = httpx.get(f"{replica.url}/metrics", timeout=10).text
        for name, _, value in (line.partition(" ") for line in text.splitlines()):
            if name in {"consumer_events_per_transaction_sum", "consumer_events_per_transaction_count"}:
                counts[name] = counts.get(name, 0.0) + float(value)
            elif name.startswith("events_consumed_total{"):
                event_type = name.split('event_type="', 1)[1].split('"', 1)[0]
                counts[event_type] = counts.get(event_type, 0.0) + float(value)
    return counts


def consumer_figures(system: System, service: str, lines: int, since: dict[str, float]) -> str:
    """A service's consumer since the counts `since`: how many deliveries its transactions carried on average
    (group commit) and, per backorder line taken, the events it handled by type."""
    counts = {name: value - since.get(name, 0.0) for name, value in consumer_counts(system, service).items()}
    total = counts.pop("consumer_events_per_transaction_sum", 0.0)
    count = counts.pop("consumer_events_per_transaction_count", 0.0)
    if not count:
        return f"(the {service} exports no group-commit figure)"
    per_line = ", ".join(f"{event_type} {n / max(lines, 1):.3f}" for event_type, n in sorted(counts.items()) if n)
    return (
        f"{total / count:.1f} events per transaction over {count:.0f}; events per backorder line: {per_line or 'none'}"
    )


def message_backlog(system: System) -> str:
    """The customer-message backlog figures the sender exports on /metrics (orders', or its own process's), if any."""
    sender = system.services.get("orders-sender")
    text = httpx.get(f"{sender.url if sender else system.url('orders')}/metrics", timeout=10).text
    figures = [line for line in text.splitlines() if line.startswith("customer_messages_")]
    return "; ".join(figures) if figures else "(the sender exports no message backlog figure)"


def placed_orders(result: LoadResult) -> list[str]:
    return [json.loads(body)["order_id"] for body in result.bodies]


def message_delivery(system: System, order_ids: list[str], order_rate: float, timeout: float = 300) -> str:
    """The customer messages of these orders, once every one went (or the timeout passed): creation→sent
    p50/p99/max, and the peak of the unsent backlog rebuilt from their creation and sending times."""
    messages: dict[str, list[dict[str, object]]] = {}
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=system.url("orders"), timeout=60, headers=system.headers("operations")) as client:
        while True:
            for order_id in order_ids:
                if order_id not in messages or any(m["sent_at"] is None for m in messages[order_id]):
                    messages[order_id] = client.get(f"/orders/{order_id}/messages").json()
            unsent = sum(1 for found in messages.values() for m in found if m["sent_at"] is None)
            if not unsent or time.monotonic() > deadline:
                break
            time.sleep(1)
    every = [m for found in messages.values() for m in found]
    if not every:
        return "no customer messages"
    created = [datetime.fromisoformat(str(m["created_at"])) for m in every]
    sent = [datetime.fromisoformat(str(m["sent_at"])) for m in every if m["sent_at"] is not None]
    delays = [
        (datetime.fromisoformat(str(m["sent_at"])) - datetime.fromisoformat(str(m["created_at"]))).total_seconds()
        for m in every
        if m["sent_at"] is not None
    ]
    # The backlog at any moment: created by then and not sent yet. Its peak is at one of the creations.
    changes = sorted([(moment, 1) for moment in created] + [(moment, -1) for moment in sent])
    backlog = peak = 0
    for _, change in changes:
        backlog += change
        peak = max(peak, backlog)
    figures = latency_line(f"creation→sent of {len(delays)} of {len(every)} messages", delays) if delays else ""
    return f"{figures}; backlog peak {peak} (at {order_rate:.0f} orders/s); unsent {len(every) - len(delays)}"


def bench_system(
    args: argparse.Namespace, storage: str, database_urls: dict[str, str], ceilings: dict[str, float]
) -> None:
    run = uuid.uuid4().hex[:6]
    workdir = Path(tempfile.mkdtemp(prefix="dropship-bench-"))
    system = System(
        workdir,
        amqp_url=args.amqp_url,
        exchange=f"bench-{run}",
        queue_prefix=f"bench-{run}.",
        database_urls=database_urls,
        ports={name: free_port() for name in ("orders", "aggregator", "supplier-gateway", "supplier-simulator")},
        replicas=args.replicas,
        mailbox="discard",  # the customers' mail servers are outside parties: as little of the machine as can be
        message_sender=args.message_sender,
    )
    queues = [f"bench-{run}.{name}" for name in ("orders", "aggregator", "supplier-gateway")]
    finished = False
    try:
        system.start("orders", "aggregator")
        memory = MemoryPeaks(system)
        configure(system, args.min_units)
        orders_port = int(system.url("orders").rsplit(":", 1)[1])
        bodies = tuple(order_body(f"SKU-{s}", quantity=2) for s in SUPPLIERS)
        orders = Target(orders_port, "POST", "/orders", bodies, system.headers("storefront"))

        print(
            f"\n== {storage}: orders + aggregator, {args.replicas} replica(s) each, {len(SUPPLIERS)} suppliers, "
            f"min {args.min_units} units per PO, max wait {MAX_WAIT_SECONDS} s, customer messages sent "
            f"{'by orders-sender' if args.message_sender == 'separate' else 'by orders'}"
        )
        databases = [url.rsplit("/", 1)[1] for url in database_urls.values()]
        place_history(system, orders, args, database_urls)
        counted = {service: consumer_counts(system, service) for service in ("aggregator", "orders")}
        profile_folder = args.profile / storage if args.profile else None
        intake, figures = take_orders(system, orders, args, databases, ceilings, profile_folder)
        for service, since in counted.items():  # the consumers' figures over this phase (single-line orders)
            print(f"{service} consumer: {consumer_figures(system, service, len(placed_lines(intake)), since)}")
        print(
            f"customer messages at the sustained rate: {message_delivery(system, placed_orders(intake), intake.rate)}"
        )

        # Latency is the pipeline's, not the batching policy's: with a minimum to fill, a line would wait
        # for the next orders of its supplier (up to the max wait) whatever the system's speed. One line per order.
        set_minimum(system, 1)
        steady = figures.steady
        offered = 0.8 * min(intake.rate, steady.sustained if steady else figures.first_to_last.rate)
        cpu_before = cpu_seconds(system)
        loaded = generate_load(
            orders, seconds=args.seconds, connections=args.connections, rate=offered, keep_bodies=True
        )
        placed = placed_lines(loaded)
        released = released_lines(system, set(placed), timeout=600)
        cpu_after = cpu_seconds(system)
        cpu_used = {name: used - cpu_before.get(name, 0.0) for name, used in cpu_after.items()}
        # What this bench's own reads of the POs cost the aggregator (a PO per line here): the same reads again.
        released_lines(system, set(placed), timeout=60)
        cpu_reads = {name: used - cpu_after.get(name, 0.0) for name, used in cpu_seconds(system).items()}
        to_po = [(released[line][1] - placed[line][1]).total_seconds() for line in placed if line in released]
        print(
            f"at 80 % of the sustained rate ({offered:.0f} orders/s offered, {loaded.rate:.0f} answered), "
            "minimum 1 unit (every line released at once):"
        )
        print(latency_line("  POST /orders latency (open loop)", loaded.latencies))
        if to_po:
            print(latency_line(f"  order-to-PO-requested latency ({len(to_po)} of {len(placed)} lines)", to_po))
        if placed:
            print(
                f"  services' CPU per backorder line, intake to the last PO: {cpu_per_line(cpu_used, len(placed))}; "
                f"of which the bench's reads of the POs (read again): {cpu_per_line(cpu_reads, len(placed))}"
            )
        print(f"  customer messages: {message_delivery(system, placed_orders(loaded), loaded.rate)}")
        print(f"  the sender's message metrics: {message_backlog(system)}")

        if args.lines_per_order > 1:
            set_minimum(system, args.min_units)
            lines = args.lines_per_order
            bodies = tuple(order_of_suppliers(SUPPLIERS[n:] + SUPPLIERS[:n], lines) for n in range(len(SUPPLIERS)))
            print(f"{lines}-line orders (each line of another supplier), min {args.min_units} units per PO:")
            take_orders(system, dataclasses.replace(orders, bodies=bodies), args, databases, ceilings, None)
        big_order_reads(system, orders_port)
        print(f"peak resident memory: {memory.stop()}")
        finished = True
    finally:
        system.stop()
        asyncio.run(delete_topology(args.amqp_url, f"bench-{run}", queues))
        left = asyncio.run(left_on_broker(args.amqp_url, f"bench-{run}", queues))
        print(f"left on the broker by this run: {', '.join(left) or 'nothing'}")
        if finished:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"the services' logs: {workdir}")


def place_history(system: System, orders: Target, args: argparse.Namespace, database_urls: dict[str, str]) -> None:
    """The shop's past, before anything is measured: `--history-seconds` of orders like the sustained phase's,
    every line released to a PO, then, on PostgreSQL, the run's databases analysed. A running system's tables
    have the statistics autovacuum gathers (its first pass within a minute of a table's growth, then at each
    tenth more rows); a database made a second ago has none, and PostgreSQL plans a statement on a table it
    believes tiny with a sequential scan, then keeps that plan while the table grows. Measured on such tables
    (`--history-seconds 0`) the figures are those of a new database's first minute: orders' event consumer
    read its orders at 14 ms a transaction there, 0.55 ms once analysed."""
    if args.history_seconds <= 0:
        print("history: none (a new database: PostgreSQL's tables without statistics)")
        return
    history = generate_load(orders, seconds=args.history_seconds, connections=args.connections, keep_bodies=True)
    placed = placed_lines(history)
    released = released_lines(system, set(placed), timeout=600)
    analysed = [url.rsplit("/", 1)[1] for url in database_urls.values()]
    for url in database_urls.values():
        asyncio.run(analyse(url))
    print(
        f"history: {history.ok} orders placed over {args.history_seconds:g} s before the measured phases, "
        f"{len(set(placed) & set(released))} of {len(placed)} lines released to POs"
        + (f"; databases analysed (ANALYZE, as autovacuum): {', '.join(analysed)}" if analysed else "")
    )


async def analyse(url: str) -> None:
    """ANALYZE a PostgreSQL database: its statistics, as autovacuum gathers them on a running system."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


def take_orders(
    system: System,
    orders: Target,
    args: argparse.Namespace,
    databases: list[str],
    ceilings: dict[str, float],
    profile_folder: Path | None,
) -> tuple[LoadResult, EndToEnd]:
    """`POST /orders` closed loop for `--seconds`; prints its rate, the end-to-end figures of the lines it placed
    and where the CPU went while orders were taken (with a profile folder, py-spy on each service over that
    phase)."""
    with LoadRun(orders, seconds=args.seconds, connections=args.connections, keep_bodies=True) as load:
        profiles = profile_services(system, profile_folder, args.seconds + 30) if profile_folder else []
        cpu_before = cpu_seconds(system)
        with CpuAccount(involved(system, databases)) as sustained:
            intake = load.run()
        for _, profile in profiles:
            profile.stop()
    placed = placed_lines(intake)
    released = released_lines(system, set(placed), timeout=600)
    cpu_used = {name: used - cpu_before.get(name, 0.0) for name, used in cpu_seconds(system).items()}
    figures = end_to_end(
        by_supplier((supplier, moment) for supplier, moment in placed.values()),
        by_supplier(released[line] for line in placed if line in released),
    )
    lines_per_order = len(placed) / intake.ok if intake.ok else 1.0
    print(
        f"POST /orders sustained: {intake.rate:.0f} orders/s ({intake.ok} ok, {intake.errors} failed, "
        f"statuses {intake.statuses}) = {intake.rate / ceilings['http']:.3f}x the trivial endpoint's ceiling"
        + (f"; {intake.rate * lines_per_order:.0f} backorder lines/s" if lines_per_order != 1 else "")
    )
    print(latency_line("POST /orders latency (closed loop)", intake.latencies))
    steady = figures.steady
    if steady is None:
        print("end to end, steady state: none, a supplier had fewer than two POs released while orders were taken")
    else:
        print(
            f"end to end, steady state (lines released to POs per second while orders were taken: each "
            f"supplier's from its first PO to its last before the last order, {steady.seconds:.1f} s on "
            f"average, added up; {steady.lines} lines): released {steady.released:.0f}/s, taken "
            f"{steady.taken:.0f}/s over the same windows; sustained (the lower) {steady.sustained:.0f} "
            f"lines/s = {steady.sustained / ceilings['publish']:.3f}x the raw publish ceiling"
        )
    whole = figures.first_to_last
    print(
        f"end to end, first order placed -> last line released (with the fill at the start and the last "
        f"batches' max wait at the end): {whole.lines} of {len(placed)} lines in {whole.seconds:.1f} s = "
        f"{whole.rate:.0f} lines/s = {whole.rate / ceilings['publish']:.3f}x the raw publish ceiling"
    )
    assert sustained.report is not None
    cpu = sustained.report.with_({f"load generator ({intake.processes} processes)": intake.cpu_seconds})
    print(f"CPU while orders were taken ({len(placed)} backorder lines):")
    print("\n".join(cpu.lines(len(placed), "backorder line")))
    if placed:
        print(f"services' CPU per backorder line, intake to the last PO: {cpu_per_line(cpu_used, len(placed))}")
    for name, profile in profiles:
        print(f"{name} profile over the sustained phase ({profile.path}):\n{profile.summary()}")
    return intake, figures


def order_of_suppliers(suppliers: Sequence[str], lines: int) -> bytes:
    """An order of `lines` lines, each a product of another of these suppliers (2 units each, all backordered)."""
    return json.dumps(
        {
            "customer_email": "bench@example.com",
            "ship_to": SHIP_TO,
            "lines": [{"sku": f"SKU-{supplier}", "quantity": 2} for supplier in suppliers[:lines]],
        }
    ).encode()


def big_order_reads(system: System, orders_port: int) -> None:
    """GET /orders/{id} at a steady 50/s while a 200-line backordered order is placed and its events run."""
    with httpx.Client(base_url=system.url("orders"), timeout=120, headers=system.headers("storefront")) as client:
        probe = client.post("/orders", content=order_body("SKU-sup0"), headers={"content-type": "application/json"})
        probe.raise_for_status()
        reads = Target(orders_port, "GET", f"/orders/{probe.json()['order_id']}", headers=system.headers("storefront"))
        outcome: dict[str, LoadResult] = {}
        reader = threading.Thread(
            target=lambda: outcome.setdefault("reads", generate_load(reads, seconds=10, connections=8, rate=50))
        )
        reader.start()
        time.sleep(1)
        started = time.perf_counter()
        big = client.post(
            "/orders", content=order_body("BIG", lines=BIG_ORDER_LINES), headers={"content-type": "application/json"}
        )
        took = time.perf_counter() - started
        reader.join()
    result = outcome["reads"]
    print(f"a {BIG_ORDER_LINES}-line backordered order: answered {big.status_code} in {took * 1000:.0f} ms")
    if result.latencies:
        print(latency_line("  concurrent GET /orders/{id} (50/s, open loop)", result.latencies))
    print(f"  reads answered {result.ok} of {result.requests}, {result.errors} failed")


# --- main -----------------------------------------------------------------------------------------


async def measure_ceilings(args: argparse.Namespace) -> dict[str, float]:
    run = uuid.uuid4().hex[:6]
    rounds = f"{args.ceiling_rounds} rounds of {args.ceiling_seconds:g} s after a warm-up round"
    broker = await broker_ceiling(args.amqp_url, run, args.ceiling_rounds, args.ceiling_seconds, args.broker_messages)
    left = await left_on_broker(args.amqp_url, f"bench-{run}", [f"bench-{run}.ceiling"])
    print(
        f"raw broker ({broker.message_bytes}-byte persistent messages, confirms, quorum queue, 64 in flight; "
        f"{rounds}, at least {args.broker_messages} messages each):"
    )
    print(f"  publish {broker.publish.describe()}")
    print(f"  consume {broker.consume.describe()}")
    print("  CPU over the rounds (each message published and consumed):")
    print("\n".join("  " + line for line in broker.cpu.lines(broker.messages, "message")))
    print(f"  left on the broker: {', '.join(left) or 'nothing'}")
    http = await asyncio.to_thread(http_ceiling, args.ceiling_rounds, args.ceiling_seconds, args.connections)
    print(
        f"trivial FastAPI endpoint validating the order body, {args.connections} connections from "
        f"{http.best.processes} load processes, {rounds}: {http.rate.describe()}"
    )
    if http.best.latencies:
        print(latency_line("  latency in the best round", http.best.latencies))
    print("  CPU over the rounds:")
    print("\n".join("  " + line for line in http.cpu.lines(http.requests, "request")))
    return {"publish": broker.publish.best, "consume": broker.consume.best, "http": http.rate.best}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each load phase")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections of the load generator")
    parser.add_argument("--ceiling-rounds", type=int, default=3, help="rounds of each ceiling, after a warm-up")
    parser.add_argument("--ceiling-seconds", type=float, default=2.0, help="length of each round of a ceiling")
    parser.add_argument("--broker-messages", type=int, default=2000, help="at least this many per broker round")
    parser.add_argument("--min-units", type=int, default=20)
    parser.add_argument(
        "--history-seconds",
        type=float,
        default=3.0,
        help="orders placed before the measured phases (then PostgreSQL's statistics gathered); 0: a new database",
    )
    parser.add_argument("--profile", type=Path, help="folder for py-spy profiles of the services (sustained phase)")
    parser.add_argument("--replicas", type=int, default=1, help="processes of each service (PostgreSQL only)")
    parser.add_argument(
        "--lines-per-order",
        type=int,
        default=1,
        help="above 1: a second sustained phase with orders of this many lines, each of another supplier",
    )
    parser.add_argument(
        "--message-sender",
        choices=("separate", "in_process"),
        default="separate",
        help="who sends the customer messages: a process of their own (orders-sender), or the orders process",
    )
    args = parser.parse_args()
    print(machine_line())
    ceilings = await measure_ceilings(args)
    for storage in args.storage.split(","):
        if args.replicas > 1 and storage != "postgres":
            print(f"\n== {storage}: skipped, replicas share one database and need PostgreSQL")
            continue
        run = uuid.uuid4().hex[:6]
        async with contextlib.AsyncExitStack() as stack:
            databases: dict[str, str] = {}
            if storage == "postgres":
                for name in ("orders", "aggregator"):
                    databases[name] = await stack.enter_async_context(
                        fresh_postgres_database(args.postgres, f"bench_{run}_{name}")
                    )
            await asyncio.to_thread(bench_system, args, storage, databases, ceilings)
        if storage == "postgres":
            left = await databases_named(args.postgres, f"bench_{run}_")
            print(f"PostgreSQL databases left by this run: {', '.join(left) or 'none'}")
    print(f"\n{machine_line()}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-trivial":
        serve_trivial(int(sys.argv[2]))
    else:
        asyncio.run(main())
