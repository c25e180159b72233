"""The intake transaction alone, in process (not a test): `OrderIntake.place` called concurrently on a real database.

    .venv/bin/python scripts/bench_intake.py [--storage sqlite,postgres] [--postgres URL] [--orders 3000]
                                             [--concurrency 64] [--rounds 2] [--split]

Single-line backordered orders over ten products of ten suppliers (each with its offer and its batch's standing,
as `bench_pipeline.py` places them), `--concurrency` callers in a closed loop, so the group commit batches what
arrives while a transaction runs. Prints per round the process CPU time per order (this thread, aiosqlite's
thread and the drivers: the figure a busy machine distorts least), orders per transaction, and the statements
and driver round trips per transaction (SQLAlchemy's `before_cursor_execute`; a round trip is an await of the
driver: a network exchange on asyncpg, a hop to aiosqlite's thread and back on SQLite), and on PostgreSQL the CPU
of the run's backends per order (the server's share of the work). With `--split`, the CPU of
each step of the transaction per order (process CPU between the step's start and end: the transaction runs
alone while its callers wait, so the figure is the step's own).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
from bench_support import CpuAccount, database_processes, fresh_postgres_database, machine_line
from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from dropship_shared.db import create_engine, session_factory
from dropship_shared.events import Address, utcnow
from dropship_shared.migrations import upgrade_to_head
from dropship_shared.unit_of_work import SqlUnitOfWork
from orders.adapters import ledger_payments, message_templates, notification_store, repository
from orders.adapters.orm import inbox, outbox
from orders.bootstrap import MIGRATIONS
from orders.domain.model import Product, RequestedLine
from orders.domain.routing import BatchOutlook
from orders.service_layer import handlers, intake
from orders.service_layer.intake import ORDERS_PER_TRANSACTION, OrderIntake
from orders.service_layer.unit_of_work import MessageSetup, OrdersUnitOfWork

SUPPLIERS = [f"sup{n}" for n in range(10)]
SHIP_TO = Address(name="Bench", address_lines=["1 Main St"], city="Springfield", postal_code="1", country="US")
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


class Statements:
    """Statements and driver round trips, counted from the engine's events and the drivers' awaits."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.statements = 0
        self.round_trips = 0
        self.kinds: Counter[str] = Counter()

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _counted(_conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, many: bool) -> None:
            self.statements += 1
            words = statement.split()
            table = next((w for w in words[1:6] if w.isidentifier() and w.upper() not in _SQL_WORDS), "?")
            self.kinds[f"{words[0].upper()} {table}{' (many)' if many else ''}"] += 1

    def patch_drivers(self) -> None:
        """Each await of the driver is a round trip: wrap the coroutines SQLAlchemy's adapters await."""

        def counting(owner: Any, name: str) -> None:
            original = getattr(owner, name)

            @functools.wraps(original)
            async def counted(*args: Any, **kwargs: Any) -> Any:
                self.round_trips += 1
                return await original(*args, **kwargs)

            setattr(owner, name, counted)

        counting(aiosqlite.Connection, "_execute")  # every call into aiosqlite's thread goes through it
        for name in ("prepare", "execute", "executemany", "fetch", "fetchrow"):
            counting(asyncpg.connection.Connection, name)
        counting(asyncpg.prepared_stmt.PreparedStatement, "fetch")


_SQL_WORDS = {"INTO", "FROM", "DISTINCT", "IMMEDIATE", "SELECT", "ALL"}


class Split:
    """Process CPU per step of the transaction, each step timed around its await."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()

    def wrap(self, owner: Any, name: str, label: str | None = None) -> None:
        original = getattr(owner, name, None)
        if original is None:  # a step of another version of the code
            return
        label = label or name
        seconds, calls = self.seconds, self.calls
        if asyncio.iscoroutinefunction(original):

            @functools.wraps(original)
            async def timed(*args: Any, **kwargs: Any) -> Any:
                started = time.process_time()
                calls[label] += 1
                try:
                    return await original(*args, **kwargs)
                finally:
                    seconds[label] += time.process_time() - started

            setattr(owner, name, timed)
        else:

            @functools.wraps(original)
            def timed_sync(*args: Any, **kwargs: Any) -> Any:
                started = time.process_time()
                calls[label] += 1
                try:
                    return original(*args, **kwargs)
                finally:
                    seconds[label] += time.process_time() - started

            setattr(owner, name, timed_sync)

    def install(self) -> None:
        """The steps of `handlers.place_orders`, in the order it runs them (inner steps indented)."""
        self.wrap(intake, "place_orders", "whole transaction")
        self.wrap(repository.OrderRepository, "by_idempotency_keys", "idempotency keys read")
        self.wrap(repository.ProductRepository, "for_allocation", "products, incoming, estimates, offers read")
        self.wrap(handlers, "load_sourcing", "offers + outlooks read")
        self.wrap(handlers, "_place", "allocation (domain)")
        self.wrap(repository.ProductRepository, "save_stock", "stock write")
        self.wrap(repository.OrderRepository, "add", "orders + lines + history insert")
        self.wrap(repository.OrderRepository, "_save_history", "  of which history insert")
        self.wrap(ledger_payments.LedgerPaymentProvider, "perform", "payment ledger insert")
        # each aggregate's events forwarded (at its turn, or by `forward_events`), as older code did it whole
        forwarded = "_forward" if hasattr(SqlUnitOfWork, "_forward") else "forward_events"
        self.wrap(SqlUnitOfWork, forwarded, "events to envelopes")
        self.wrap(notification_store.NotificationStore, "enqueue", "customer messages insert")
        self.wrap(message_templates.MessageTemplates, "render", "  of which rendering")
        self.wrap(OrdersUnitOfWork, "commit", "outbox insert + commit")


def catalog() -> list[Product]:
    return [
        Product(f"SKU-{supplier}", f"SKU-{supplier}", supplier, f"S-SKU-{supplier}", Decimal(10), Decimal(4), 0)
        for supplier in SUPPLIERS
    ]


async def seed(uow_factory: Callable[[], OrdersUnitOfWork]) -> None:
    """The catalog (each product's offer with it) and each supplier's batch as the aggregator last told it."""
    await handlers.upsert_products(uow_factory, catalog())
    now = utcnow()
    async with uow_factory() as uow:
        for supplier in SUPPLIERS:
            outlook = BatchOutlook(
                supplier,
                pending_units=3,
                pending_value=Decimal(12),
                min_units=1_000_000,
                expected_release_at=now + timedelta(hours=2),
                complete_release_at=now + timedelta(hours=1),
            )
            await uow.release_estimates.record([(outlook, now)])
        await uow.commit()


def _transactions() -> float:
    """Transactions of the intake so far (its `orders_per_transaction` histogram's count)."""
    for metric in ORDERS_PER_TRANSACTION.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count"):
                return sample.value
    return 0.0


async def closed_loop(intake: OrderIntake, orders: int, concurrency: int) -> None:
    remaining = orders

    async def caller(n: int) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            command = handlers.PlaceOrder(
                "bench@example.com", SHIP_TO, [RequestedLine(f"SKU-{SUPPLIERS[remaining % len(SUPPLIERS)]}", 2)]
            )
            await intake.place(command, f"c{n}-{remaining}")

    await asyncio.gather(*(caller(n) for n in range(concurrency)))


async def measure(url: str, storage: str, args: argparse.Namespace) -> None:
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    messages = MessageSetup()  # one for the process, as the service has (its templates compiled once)

    def uow_factory() -> OrdersUnitOfWork:
        return OrdersUnitOfWork(sessions, outbox, inbox, asyncio.Event(), messages=messages)

    try:
        await seed(uow_factory)
        counted = Statements(engine)
        split = Split()
        placing = OrderIntake(uow_factory)
        await closed_loop(placing, min(500, args.orders), args.concurrency)  # warm: caches, prepared statements
        # The heap frozen as the service freezes it once started (`service_main`): otherwise a full collection
        # walks the ~170,000 objects of the imports now and then, 0.1 s each, in one round and not in another.
        gc.collect()
        gc.freeze()
        counted.patch_drivers()
        if args.split:
            split.install()
        print(f"\n== {storage}: {args.orders} single-line backordered orders, {args.concurrency} in flight")
        for round_no in range(1, args.rounds + 1):
            transactions = _transactions()
            split.seconds.clear()
            split.calls.clear()
            statements, trips = counted.statements, counted.round_trips
            counted.kinds.clear()
            with backends_cpu(url, storage) as backends:  # None on SQLite
                cpu, wall = time.process_time(), time.perf_counter()
                await closed_loop(placing, args.orders, args.concurrency)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            batches = (_transactions() - transactions) or 1
            print(
                f"round {round_no}: CPU {1000 * cpu / args.orders:.3f} ms per order, "
                f"{args.orders / wall:.0f} orders/s, "
                f"{args.orders / batches:.1f} orders per transaction, "
                f"{(counted.statements - statements) / batches:.1f} statements and "
                f"{(counted.round_trips - trips) / batches:.1f} driver round trips per transaction"
                + (f", PostgreSQL backends {1000 * backends.used / args.orders:.3f} ms per order" if backends else "")
            )
            if round_no == 1:
                print(
                    "  statements per transaction: "
                    + ", ".join(f"{kind} {n / batches:.2f}" for kind, n in counted.kinds.most_common())
                )
            if args.split:
                for label, seconds in split.seconds.items():
                    print(
                        f"  {label:<36} {1000 * seconds / args.orders:.3f} ms per order, "
                        f"{split.calls[label] / batches:.1f} calls per transaction"
                    )
    finally:
        await engine.dispose()


class BackendsCpu:
    """The CPU the run's PostgreSQL backends used over a round: their work per order is the server's share of it."""

    def __init__(self, database: str) -> None:
        # sampled at the start and the end only: a sampling thread would add its CPU to this process's figure
        self._account = CpuAccount(lambda: database_processes([database]), interval=3600)
        self.used = 0.0

    def __enter__(self) -> BackendsCpu:
        self._account.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._account.__exit__(*exc)
        assert self._account.report is not None
        self.used = self._account.report.used.get("PostgreSQL backends of this run", 0.0)


@contextlib.contextmanager
def backends_cpu(url: str, storage: str) -> Iterator[BackendsCpu | None]:
    if storage != "postgres":
        yield None
        return
    with BackendsCpu(str(make_url(url).database)) as backends:
        yield backends


@contextlib.asynccontextmanager
async def database(storage: str, postgres: str) -> AsyncIterator[str]:
    if storage == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite+aiosqlite:///{Path(folder) / 'orders.db'}"
    else:
        # a name of its own: two runs at once (other scripts reuse this one) must not drop each other's database
        async with fresh_postgres_database(postgres, f"bench_intake_{uuid.uuid4().hex[:6]}") as url:
            yield url


async def on_each_storage(measure: Callable[[str, str, argparse.Namespace], Awaitable[None]], args: Any) -> None:
    """`measure` on a fresh database of each engine of `--storage`, the machine's load before and after."""
    print(machine_line())
    for storage in args.storage.split(","):
        async with database(storage, args.postgres) as url:
            await measure(url, storage, args)
    print(machine_line())


def arguments(description: str | None, orders: int) -> argparse.ArgumentParser:
    """The options of the in-process benchmarks: engines, PostgreSQL server, orders per round, rounds."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage", default="sqlite,postgres")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--orders", type=int, default=orders)
    parser.add_argument("--rounds", type=int, default=2)
    return parser


if __name__ == "__main__":
    parser = arguments(__doc__, orders=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--split", action="store_true", help="CPU per step of the transaction")
    asyncio.run(on_each_storage(measure, parser.parse_args()))
