"""The outbox relay: publishes committed outbox rows with broker confirms, then marks them published."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dropship_shared.events import utcnow
from dropship_shared.logs import get_logger
from dropship_shared.messaging import Broker
from dropship_shared.metrics import OUTBOX_PENDING

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
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._broker = broker
        self._ready = ready
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds

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

    async def publish_pending(self) -> int:
        """One pass: claim up to a batch of unpublished rows, publish them, mark the confirmed ones."""
        outbox = self._outbox
        async with self._sessions() as session, session.begin():
            rows = (
                await session.execute(
                    select(outbox.c.id, outbox.c.event_id, outbox.c.event_type, outbox.c.correlation_id, outbox.c.body)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.id)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                OUTBOX_PENDING.set(0)
                return 0
            results = await asyncio.gather(
                *(
                    self._broker.publish_raw(row.event_type, row.body.encode(), row.event_id, row.correlation_id)
                    for row in rows
                ),
                return_exceptions=True,
            )
            confirmed = [row.id for row, result in zip(rows, results, strict=True) if result is None]
            failed = [row.id for row, result in zip(rows, results, strict=True) if result is not None]
            now = utcnow()
            if confirmed:
                await session.execute(update(outbox).where(outbox.c.id.in_(confirmed)).values(published_at=now))
            if failed:
                await session.execute(
                    update(outbox).where(outbox.c.id.in_(failed)).values(attempts=outbox.c.attempts + 1)
                )
                first_error = next(result for result in results if result is not None)
                log.warning("outbox publish not confirmed", count=len(failed), error=repr(first_error))
            return len(confirmed)

    async def pending_count(self) -> int:
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(self._outbox).where(self._outbox.c.published_at.is_(None))
            )
        OUTBOX_PENDING.set(count or 0)
        return int(count or 0)
