"""Orders' consumer alone, in process (not a test): the events the aggregator sends for backordered lines, handled
in batches through `event_handlers.handle_events` with the real unit of work on a real database.

    .venv/bin/python scripts/bench_order_events.py [--storage sqlite,postgres] [--postgres URL] [--orders 1000]
                                                   [--batch 8] [--rounds 2]

Each round places `--orders` single-line backordered orders over ten suppliers (as `bench_intake.py` does; not
measured), then hands orders what the aggregator sends for them with a minimum of 10 lines per PO: per supplier and
ten lines, a `batch.release_expected` naming the batch's first five lines and a `purchase_order.requested` naming
all ten (0.2 events per line, as in `bench_pipeline.py`), `--batch` events per transaction in that order. Prints per
round the process CPU time per event and per line (this thread, aiosqlite's thread and the drivers) and the
statements and driver round trips per transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

from bench_intake import SHIP_TO, SUPPLIERS, Statements, arguments, on_each_storage, seed
from bench_support import percentile
from sqlalchemy import event

from dropship_shared.db import create_engine, session_factory
from dropship_shared.events import (
    BatchReleaseExpected,
    Envelope,
    PurchaseOrderLine,
    PurchaseOrderRequested,
    utcnow,
)
from dropship_shared.migrations import upgrade_to_head
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.adapters.orm import inbox, outbox
from orders.bootstrap import MIGRATIONS
from orders.domain.model import RequestedLine
from orders.domain.promise import PromiseRules
from orders.service_layer import event_handlers, handlers
from orders.service_layer.unit_of_work import MessageSetup, OrdersUnitOfWork

LINES_PER_PO = 10


async def place(uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], orders: int) -> dict[str, list[str]]:
    """`orders` single-line backorders, 64 per transaction: each supplier's backorder line ids, in order."""
    lines: dict[str, list[str]] = {supplier: [] for supplier in SUPPLIERS}
    for start in range(0, orders, 64):
        requests = [
            (
                handlers.PlaceOrder(
                    "bench@example.com", SHIP_TO, [RequestedLine(f"SKU-{SUPPLIERS[n % len(SUPPLIERS)]}", 2)]
                ),
                f"c{n}",
            )
            for n in range(start, min(start + 64, orders))
        ]
        for (command, _), placed in zip(requests, await handlers.place_orders(uow_factory, requests), strict=True):
            if isinstance(placed, handlers.PlacedOrder):
                lines[command.lines[0].sku.removeprefix("SKU-")].append(f"{placed.order.order_id}-1")
    return lines


def aggregator_events(lines: dict[str, list[str]], round_no: int) -> list[Envelope]:
    """Per supplier and ten lines: the release estimate naming the first five, then the PO of all ten."""
    now = utcnow()
    events: list[Envelope] = []
    for supplier, line_ids in lines.items():
        for po_no, start in enumerate(range(0, len(line_ids) - LINES_PER_PO + 1, LINES_PER_PO)):
            batch = line_ids[start : start + LINES_PER_PO]
            estimate = BatchReleaseExpected(
                supplier_id=supplier,
                expected_release_at=now + timedelta(hours=2),
                backorder_line_ids=batch[:5],
                latest_release_at=now + timedelta(hours=3),
            )
            po = PurchaseOrderRequested(
                po_number=f"PO-{round_no}-{supplier}-{po_no}",
                supplier_id=supplier,
                currency="USD",
                release_reason="minimum_met",
                lines=[
                    PurchaseOrderLine(
                        line_no=n,
                        backorder_line_id=line_id,
                        sku=f"SKU-{supplier}",
                        supplier_sku=f"S-SKU-{supplier}",
                        quantity=2,
                        unit_cost=Decimal(4),
                        ship_to=SHIP_TO,
                        customer_ref=line_id,
                    )
                    for n, line_id in enumerate(batch, 1)
                ],
            )
            # as delivered: through the wire format, validated as the consumer validates them
            events += [Envelope.from_bytes(Envelope.wrap(event, f"c-{po_no}").to_bytes()) for event in (estimate, po)]
    return events


async def measure(url: str, storage: str, args: argparse.Namespace) -> None:
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    messages = MessageSetup()

    def uow_factory() -> OrdersUnitOfWork:
        return OrdersUnitOfWork(sessions, outbox, inbox, asyncio.Event(), messages=messages)

    rules = PromiseRules()
    try:
        await seed(uow_factory)
        counted = Statements(engine)
        counted.patch_drivers()
        tables: Counter[str] = Counter()

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _table(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            words = statement.replace('"', "").split()
            if words[0].upper() == "SELECT" and "FROM" in words:
                tables[f"SELECT {words[words.index('FROM') + 1]}"] += 1

        print(f"\n== {storage}: {args.orders} single-line backorders a round, {args.batch} events per transaction")
        for round_no in range(0, args.rounds + 1):  # round 0 warms caches and prepared statements
            events = aggregator_events(await place(uow_factory, args.orders), round_no)
            lines = sum(len(e.payload.get("lines", [])) for e in events)
            batches = [events[n : n + args.batch] for n in range(0, len(events), args.batch)]
            statements, trips = counted.statements, counted.round_trips
            counted.kinds.clear()
            tables.clear()
            per_batch: list[float] = []
            # The placement's garbage collected now, not by a full collection in the middle of the measured
            # batches (one takes 50-100 ms here: it made rounds of the same code differ by half).
            gc.collect()
            cpu = time.process_time()
            for batch in batches:
                started = time.process_time()
                await event_handlers.handle_events(uow_factory, batch, rules)
                per_batch.append(time.process_time() - started)
            cpu = time.process_time() - cpu
            if round_no == 0:
                continue
            print(
                f"round {round_no}: {len(events)} events ({lines} lines on POs), "
                f"CPU {1000 * cpu / len(events):.3f} ms per event, {1000 * cpu / lines:.3f} ms per PO line, "
                f"batch p50 {1000 * percentile(per_batch, 0.5):.1f} ms; "
                f"{(counted.statements - statements) / len(batches):.1f} statements and "
                f"{(counted.round_trips - trips) / len(batches):.1f} driver round trips per transaction"
            )
            if round_no == 1:
                kinds = Counter({kind: n for kind, n in counted.kinds.items() if not kind.startswith("SELECT")})
                print(
                    "  statements per transaction: "
                    + ", ".join(f"{kind} {n / len(batches):.2f}" for kind, n in (kinds + tables).most_common())
                )
    finally:
        await engine.dispose()


if __name__ == "__main__":
    parser = arguments(__doc__, orders=1000)
    parser.add_argument("--batch", type=int, default=8)
    asyncio.run(on_each_storage(measure, parser.parse_args()))
