"""The aggregator's backorder handler alone, in process (not a test): `handlers.on_backorder_events` with the real
unit of work on a real database, CPU per backorder line.

    .venv/bin/python scripts/bench_backorder_events.py [--storage sqlite,postgres] [--postgres URL]
                                                       [--orders 2000] [--batch 16] [--rounds 5]

Ten suppliers, each with a minimum of 20 units; every round hands the handler `--orders` backorders of two units
(round robin over the suppliers, so a PO of ten lines per supplier and ten lines), `--batch` per transaction as
the consumer delivers them. Prints per engine the process CPU time per line over the rounds after the first (which
warms caches and prepared statements), and the user part of it (the rest is the kernel's, mostly the sockets).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import time

from bench_aggregator import backorder_of
from bench_intake import SHIP_TO, SUPPLIERS, arguments, on_each_storage

from aggregator.adapters.orm import inbox, outbox
from aggregator.adapters.repository import RecentLineDetails
from aggregator.bootstrap import MIGRATIONS
from aggregator.service_layer import handlers
from aggregator.service_layer.batches import BatchCache
from aggregator.service_layer.handlers import MerchantTerms
from aggregator.service_layer.unit_of_work import AggregatorUnitOfWork
from dropship_shared.db import create_engine, session_factory
from dropship_shared.events import Envelope
from dropship_shared.migrations import upgrade_to_head

TERMS = MerchantTerms(SHIP_TO)
POLICY = {"min_units": 20, "max_wait_seconds": 86400, "on_deadline": "release"}


def backorders(first: int, count: int) -> list[Envelope]:
    """`count` backorders of two units, round robin over the suppliers, as delivered (through the wire format)."""
    return [
        Envelope.from_bytes(
            Envelope.wrap(backorder_of("bench", n, SUPPLIERS[n % len(SUPPLIERS)], 2), f"c{n}").to_bytes()
        )
        for n in range(first, first + count)
    ]


async def measure(url: str, storage: str, args: argparse.Namespace) -> None:
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    recent_lines = RecentLineDetails()

    def uow_factory() -> AggregatorUnitOfWork:
        uow = AggregatorUnitOfWork(sessions, outbox, inbox)
        uow.recent_lines = recent_lines
        return uow

    batches = BatchCache(3600)
    try:
        for supplier in SUPPLIERS:
            await handlers.register_supplier(uow_factory, supplier, supplier)
            await handlers.set_policy(uow_factory, batches, TERMS, supplier, POLICY)
        cpu = user = 0.0
        for round_no in range(args.rounds + 1):  # round 0 warms caches and prepared statements
            events = backorders(round_no * args.orders, args.orders)
            gc.collect()
            started, user_started = time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_utime
            for start in range(0, len(events), args.batch):
                await handlers.on_backorder_events(uow_factory, batches, TERMS, events[start : start + args.batch])
            if round_no:
                cpu += time.process_time() - started
                user += resource.getrusage(resource.RUSAGE_SELF).ru_utime - user_started
        lines = args.rounds * args.orders
        print(
            f"{storage}: {args.rounds} rounds of {args.orders} lines, {args.batch} per transaction: "
            f"CPU {1000 * cpu / lines:.4f} ms per line (user {1000 * user / lines:.4f})"
        )
    finally:
        await engine.dispose()


if __name__ == "__main__":
    parser = arguments(__doc__, orders=2000)
    parser.add_argument("--batch", type=int, default=16)
    parser.set_defaults(rounds=5)
    asyncio.run(on_each_storage(measure, parser.parse_args()))
