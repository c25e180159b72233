"""The outbox relay alone, in process (not a test): committed `backorder.created` rows published through
`OutboxRelay.publish_pending` to the real RabbitMQ, on a real database.

    .venv/bin/python scripts/bench_relay.py [--storage sqlite,postgres] [--postgres URL] [--orders 4000]
                                            [--per-pass 10,200] [--rounds 3] [--amqp URL] [--profile] [--sort KEY]

Each round commits `--orders` backorder events to the outbox, `--per-pass` of them before each relay pass (orders
under load commits a few between the relay's wake-ups; a backlog gives full batches of 200), the commits not
measured. A quorum queue bound to the event takes the messages, as the aggregator's does, and is purged between
rounds. Prints per round this process's CPU time per published event in the relay's passes (all its threads:
aiosqlite's, the drivers), RabbitMQ's over the whole round (beam.smp, whose CPU clock ticks are too coarse for one
pass; the shared node, so others' traffic counts too: compare the lowest of the rounds), and the wall time of a pass.
On SQLite the relay reads on a reader connection of its own, as the runtime gives it.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import pstats
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psutil
from bench_intake import arguments, on_each_storage
from bench_support import broker_processes, delete_topology

from dropship_shared.db import create_engine, create_reader_engine, session_factory
from dropship_shared.events import Address, BackorderCreated
from dropship_shared.messaging import Broker
from dropship_shared.outbox import OutboxRelay
from dropship_shared.unit_of_work import SqlUnitOfWork
from orders.adapters.orm import inbox, metadata, outbox

SHIP_TO = Address(
    name="Ann Example", address_lines=["1 Main St"], city="Springfield", postal_code="12345", country="US"
)
SUPPLIERS = [f"supplier-{n}" for n in range(10)]


def backorder(n: int) -> BackorderCreated:
    return BackorderCreated(
        backorder_line_id=str(uuid.uuid4()),
        order_id=str(uuid.uuid4()),
        line_no=1,
        sku=f"SKU-{n % 10}",
        supplier_id=SUPPLIERS[n % len(SUPPLIERS)],
        supplier_sku=f"S-{n % 10}",
        quantity=2,
        unit_cost=Decimal("3.50"),
        ship_to=SHIP_TO,
        customer_ref=f"O-{n}/1",
        ordered_at=datetime.now(UTC),
    )


def broker_cpu() -> float:
    total = 0.0
    for pid in broker_processes():
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


async def measure(url: str, storage: str, args: Any) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    sessions = session_factory(engine)
    exchange = f"bench-relay-{uuid.uuid4().hex[:8]}"
    queue = f"{exchange}.aggregator"
    broker = Broker(args.amqp, exchange)
    await broker.connect()
    channel = await broker._consuming_connection().channel()
    declared = await broker.declare_queue(channel, queue, ["backorder.created"])
    reader = create_reader_engine(url, pool_size=1) if storage == "sqlite" else None  # as the runtime gives it
    relay = OutboxRelay(sessions, outbox, broker, asyncio.Event(), sqlite_reader=reader)
    try:
        for per_pass in (int(size) for size in args.per_pass.split(",")):
            for round_no in range(1, args.rounds + 1):
                cpu = passing = 0.0
                profile = cProfile.Profile(time.thread_time) if args.profile else None
                gc.collect()
                broker_before = broker_cpu()  # over the whole round: its clock ticks are too coarse for one pass
                for start in range(0, args.orders, per_pass):
                    async with SqlUnitOfWork(sessions, outbox, inbox) as uow:
                        for n in range(start, min(start + per_pass, args.orders)):
                            uow.emit(backorder(n))
                        await uow.commit()
                    before, started = time.process_time(), time.perf_counter()
                    if profile:
                        profile.enable()
                    published = await relay.publish_pending()
                    if profile:
                        profile.disable()
                    cpu += time.process_time() - before
                    passing += time.perf_counter() - started
                    assert published == min(per_pass, args.orders - start), published
                broker_seconds = broker_cpu() - broker_before
                await asyncio.sleep(0.5)
                await declared.purge()
                print(
                    f"{storage} {per_pass:4d} per pass, round {round_no}: relay {1e6 * cpu / args.orders:6.1f} us"
                    f" CPU per event, RabbitMQ {1e6 * broker_seconds / args.orders:6.1f} us (shared node),"
                    f" {1e3 * passing / (args.orders / per_pass):5.2f} ms per pass"
                )
                if profile:
                    pstats.Stats(profile).sort_stats(args.sort).print_stats(40)
    finally:
        await channel.close()
        await broker.close()
        if reader is not None:
            await reader.dispose()
        await engine.dispose()
        await delete_topology(args.amqp, exchange, [queue])


if __name__ == "__main__":
    parser = arguments(__doc__, orders=4000)
    parser.add_argument("--per-pass", default="10,200")
    parser.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--profile", action="store_true", help="cProfile of the relay's passes")
    parser.add_argument("--sort", default="tottime")
    parser.set_defaults(rounds=3)
    asyncio.run(on_each_storage(measure, parser.parse_args()))
