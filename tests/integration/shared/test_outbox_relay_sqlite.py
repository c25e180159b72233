"""On SQLite the relay reads the unpublished rows on a reader connection of its own: the writer's connection, which
order intake shares, runs only the marks (no write lock taken for a read), and every row is still published and
marked once confirmed."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import MetaData, event

from dropship_shared.db import create_engine, create_reader_engine, session_factory
from dropship_shared.events import BackorderCancelled
from dropship_shared.messaging import Broker
from dropship_shared.outbox import OutboxRelay
from dropship_shared.tables import inbox_table, outbox_table
from dropship_shared.unit_of_work import SqlUnitOfWork
from support.infrastructure import BrokerNamespace

metadata = MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


async def test_the_writer_runs_only_the_marks(sqlite_url: str, broker_namespace: BrokerNamespace) -> None:
    engine = create_engine(sqlite_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    sessions = session_factory(engine)
    async with SqlUnitOfWork(sessions, outbox, inbox) as uow:
        for n in range(5):
            uow.emit(BackorderCancelled(backorder_line_id=f"L{n}", supplier_id="acme"))
        await uow.commit()
    reader = create_reader_engine(sqlite_url, pool_size=1)
    broker = Broker(broker_namespace.amqp_url, broker_namespace.exchange)
    await broker.connect()
    on_writer: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        on_writer.append(statement.split()[0].upper())

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        relay = OutboxRelay(sessions, outbox, broker, asyncio.Event(), sqlite_reader=reader)
        assert await relay.publish_pending() == 5
        assert on_writer == ["BEGIN", "UPDATE"]  # the marks' BEGIN IMMEDIATE and UPDATE
        assert await relay.pending_count() == 0
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
        await broker.close()
        await reader.dispose()
        await engine.dispose()
