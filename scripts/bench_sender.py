"""Customer-message sender benchmark (a script that prints figures, not a timed test).

The sender's own work in process, without the rest of the system around it: `--messages` email messages are
stored in a fresh database's outbox (rendered from the shop's backorder template as orders renders them, order
ids as intake makes them), then MessageDelivery (claim, send through EmailChannel, record), on the sessions
`orders send-messages` gives it (on PostgreSQL a small pool of its own in autocommit), drains them into
scripts/mail_sink.py (a process of its own, not counted). Printed: this process's CPU per message
(what `bench_pipeline.py` shows as the orders-sender line, less its fixed background work) and the rate.
A first backlog of `--warm-up` messages is drained before the measured one (connections opened, statements
compiled).

    .venv/bin/python scripts/bench_sender.py [--messages 8000] [--storage sqlite|postgres]
                                             [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]

SQLite gets a file in a temporary directory; PostgreSQL a fresh database, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

from bench_support import fresh_postgres_database
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dropship_shared.db import create_engine, create_postgres_pool, is_sqlite, session_factory
from dropship_shared.events import utcnow
from dropship_shared.migrations import upgrade_to_head
from orders.adapters.channels import EmailChannel
from orders.adapters.message_templates import MessageTemplates
from orders.adapters.orm import inbox, notifications, outbox
from orders.bootstrap import MIGRATIONS
from orders.service_layer.message_delivery import DeliveryPolicy, MessageDelivery
from orders.service_layer.unit_of_work import OrdersUnitOfWork

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = MessageTemplates("Our shop")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def store(sessions: async_sessionmaker[AsyncSession], first: int, count: int) -> None:
    """Messages as the orders service stores them (one row per message, due now), 500 a statement."""
    for start in range(first, first + count, 500):
        now = utcnow()
        rows = [backorder_message(number, now) for number in range(start, min(start + 500, first + count))]
        async with sessions() as session:
            await session.execute(insert(notifications), rows)
            await session.commit()


def backorder_message(number: int, now: datetime) -> dict[str, object]:
    order_id = f"O{uuid.uuid4().hex[:12].upper()}"  # as intake names orders
    lines = [{"quantity": 2, "sku": f"SKU-{number % 500:05d}", "promised_date": "2026-12-10"}]
    rendered = TEMPLATES.render("backorder_placed", {"order_id": order_id, "lines": lines})
    return {
        "message_key": f"{order_id}:placed",
        "channel": "email",
        "kind": "backorder_placed",
        "order_id": order_id,
        "line_no": None,
        "recipient": f"customer{number}@example.com",
        "subject": rendered.subject,
        "body": rendered.body,
        "context": {"order_id": order_id, "lines": lines},
        "created_at": now,
        "attempts": 0,
        "next_attempt_at": now,
    }


async def drained(sessions: async_sessionmaker[AsyncSession]) -> None:
    while True:
        async with sessions() as session:
            unsent = (await session.execute(select(func.count()).where(notifications.c.sent_at.is_(None)))).scalar()
        if not unsent:
            return
        await asyncio.sleep(0.05)


async def bench(database_url: str, messages: int, warm_up: int) -> None:
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    port = free_port()
    sink = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "mail_sink.py"), "--port", str(port)])
    await asyncio.sleep(1.0)  # the sink listening
    channel = EmailChannel("127.0.0.1", port, "Shop <orders@shop.example.com>")
    # No polling while measured: the sender is woken once and streams the backlog (claims of a whole batch).
    # The sender's sessions as bootstrap.customer_message_delivery makes them.
    delivery_engine = engine if is_sqlite(database_url) else create_postgres_pool(database_url, 3, autocommit=True)
    delivery_sessions = session_factory(delivery_engine)
    delivery = MessageDelivery(
        lambda: OrdersUnitOfWork(delivery_sessions, outbox, inbox), [channel], DeliveryPolicy(poll_seconds=60)
    )
    running = asyncio.create_task(delivery.run())
    try:
        await store(sessions, 0, warm_up)
        delivery.wake()
        await drained(sessions)
        await store(sessions, warm_up, messages)
        cpu, wall = time.process_time(), time.perf_counter()
        delivery.wake()
        await drained(sessions)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await delivery.close()
        if delivery_engine is not engine:
            await delivery_engine.dispose()
        await engine.dispose()
        sink.terminate()
        sink.wait()
    print(f"{messages} messages: {1000 * cpu / messages:.3f} ms of CPU per message, {messages / wall:.0f} messages/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=8000)
    parser.add_argument("--warm-up", type=int, default=256)
    parser.add_argument("--storage", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    asyncio.run(run(parser.parse_args()))


async def run(args: argparse.Namespace) -> None:
    if args.storage == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            await bench(f"sqlite+aiosqlite:///{directory}/orders.db", args.messages, args.warm_up)
        return
    async with fresh_postgres_database(args.postgres, "bench_sender") as url:
        await bench(url, args.messages, args.warm_up)


if __name__ == "__main__":
    main()
