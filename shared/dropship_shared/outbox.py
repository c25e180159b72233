"""The outbox relay: publishes committed outbox rows with broker confirms, then marks them published."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from dropship_shared.confirmed_publish import Outgoing
from dropship_shared.db import among_bound
from dropship_shared.events import utcnow
from dropship_shared.logs import get_logger
from dropship_shared.messaging import Broker, partition_key_in
from dropship_shared.metrics import age_seconds, gauge
from dropship_shared.tracing import traceparent_in

log = get_logger(__name__)


class OutboxRelay:
    """Safe across replicas (rows are claimed with SKIP LOCKED on PostgreSQL) and across crashes
    (a row is marked only after its confirm; a crash in between publishes it again, which the
    consumers' inbox makes harmless)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Table,
        broker: Broker,
        ready: asyncio.Event,
        batch_size: int = 200,
        poll_seconds: float = 0.5,
        linger_seconds: float = 0.01,
        sqlite_reader: AsyncEngine | None = None,
    ) -> None:
        """`sqlite_reader` (create_reader_engine), on SQLite: where a pass reads the unpublished rows, one statement
        in autocommit instead of BEGIN IMMEDIATE, SELECT and COMMIT on the writer's connection: two trips to the
        database thread fewer, and no write lock held for a read."""
        self._sessions = sessions
        self._outbox = outbox
        self._broker = broker
        self._ready = ready
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._linger_seconds = linger_seconds
        # The pass works on Core connections with its statements built once: the ORM session's execution and
        # each statement's rebuilding and cache key were most of a small pass's CPU.
        self._engine: AsyncEngine = sessions.kw["bind"]
        dialect = self._engine.dialect.name
        self._on_sqlite = dialect == "sqlite"
        self._sqlite_reader = sqlite_reader
        unpublished = (
            select(outbox.c.id, outbox.c.event_id, outbox.c.event_type, outbox.c.correlation_id, outbox.c.body)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.id)
            .limit(batch_size)
        )
        # PostgreSQL: replicas share the table; SKIP LOCKED lets each claim different rows.
        self._unpublished: Select[Any] = (
            unpublished if self._on_sqlite else unpublished.with_for_update(skip_locked=True)
        )
        these = among_bound(outbox.c.id, "ids", dialect)
        self._mark_published = (
            update(outbox).where(these).values(published_at=bindparam("now", type_=outbox.c.published_at.type))
        )
        self._count_attempt = update(outbox).where(these).values(attempts=outbox.c.attempts + 1)

    async def run(self) -> None:
        while True:
            try:
                published = await self.publish_pending()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database away: wait and try again
                log.warning("outbox relay pass failed", error=repr(exc))
                published = 0
                await asyncio.sleep(self._poll_seconds)
            if published < self._batch_size:
                self._ready.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ready.wait(), timeout=self._poll_seconds)
                # Linger a moment after a wake-up: under load the commits that follow join this pass
                # instead of costing a pass (and a transaction) each.
                await asyncio.sleep(self._linger_seconds)

    async def publish_pending(self) -> int:
        """One pass: take up to a batch of unpublished rows, publish them, mark the confirmed ones."""
        if self._on_sqlite:
            # SQLite has one writer per file and this process owns the file: read, publish with no
            # transaction open (so order intake is not blocked behind broker round trips), then mark.
            rows = await self._read_unpublished()
            confirmed = await self._publish(rows)
            async with self._engine.begin() as connection:
                await self._mark(connection, rows, confirmed)
            return len(confirmed)
        async with self._engine.begin() as connection:
            rows = (await connection.execute(self._unpublished)).all()
            confirmed = await self._publish(rows)
            await self._mark(connection, rows, confirmed)
            return len(confirmed)

    async def _read_unpublished(self) -> Sequence[Row[Any]]:
        rows: Sequence[Row[Any]]
        if self._sqlite_reader is not None:  # autocommit: no BEGIN, and no COMMIT to send
            async with self._sqlite_reader.connect() as connection:
                rows = (await connection.execute(self._unpublished)).all()
        else:
            async with self._engine.begin() as connection:
                rows = (await connection.execute(self._unpublished)).all()
        return rows

    async def _publish(self, rows: Sequence[Row[Any]]) -> set[int]:
        """Publish the rows in one write with their confirms awaited together; the ids of the rows the broker
        confirmed."""
        try:
            outcomes: Sequence[Exception | None] = await self._broker.publish_many(
                [
                    Outgoing(
                        row.event_type,
                        row.body.encode(),
                        row.event_id,
                        row.correlation_id,
                        traceparent_in(row.body),
                        partition_key_in(row.body),
                    )
                    for row in rows
                ]
            )
        except Exception as exc:  # no channel to publish on (the connection is being restored): none went
            outcomes = [exc] * len(rows)
        failures = [outcome for outcome in outcomes if outcome is not None]
        if failures:
            log.warning("outbox publish not confirmed", count=len(failures), error=repr(failures[0]))
        return {row.id for row, outcome in zip(rows, outcomes, strict=True) if outcome is None}

    async def _mark(self, connection: AsyncConnection, rows: Sequence[Row[Any]], confirmed: set[int]) -> None:
        if confirmed:
            await connection.execute(self._mark_published, {"ids": list(confirmed), "now": utcnow()})
        failed = [row.id for row in rows if row.id not in confirmed]
        if failed:
            await connection.execute(self._count_attempt, {"ids": failed})

    async def pending_count(self) -> int:
        return (await outbox_lag(self._sessions, self._outbox)).pending


@dataclass(frozen=True)
class OutboxLag:
    """How far the relay is behind: rows committed but not yet published, and the oldest one's creation."""

    pending: int
    oldest_created_at: datetime | None

    def figures(self, now: datetime) -> list[Any]:
        """The lag as the scrape-time gauges `outbox_pending` and `outbox_oldest_pending_age_seconds`."""
        pending = gauge("outbox_pending", "Outbox rows committed and not yet published to the broker")
        pending.add_metric([], self.pending)
        age = gauge(
            "outbox_oldest_pending_age_seconds", "Age of the oldest outbox row not yet published (0 when none waits)"
        )
        age.add_metric([], age_seconds(self.oldest_created_at, now))
        return [pending, age]


async def outbox_lag(sessions: async_sessionmaker[AsyncSession], outbox: Table) -> OutboxLag:
    """One query over the unpublished rows (the `ix_outbox_unpublished` index: published rows are not read)."""
    async with sessions() as session:
        row = (
            await session.execute(
                select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.published_at.is_(None))
            )
        ).one()
    return OutboxLag(int(row[0] or 0), row[1])
