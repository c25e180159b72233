"""The transaction boundary: a state change, its outgoing events (outbox) and the inbox mark commit together."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from sqlalchemy import Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dropship_shared.events import Envelope, Payload, utcnow
from dropship_shared.tracing import traceparent_of


class SqlUnitOfWork:
    """Base of every service's unit of work; subclasses add their repositories in `_open`."""

    session: AsyncSession

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Table,
        inbox: Table,
        outbox_ready: asyncio.Event | None = None,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._inbox = inbox
        self._outbox_ready = outbox_ready
        self._pending: list[Envelope] = []
        self.correlation_id = "-"

    async def __aenter__(self) -> Self:
        self.session = self._sessions()
        self._pending = []
        self._open()
        return self

    def _open(self) -> None:
        """Hook for subclasses: build repositories on `self.session`."""

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.session.rollback()
        finally:
            await self.session.close()

    def emit(self, payload: Payload) -> Envelope:
        """Queue an event to be written to the outbox in this transaction."""
        envelope = Envelope.wrap(payload, self.correlation_id, traceparent=traceparent_of(self.correlation_id))
        self._pending.append(envelope)
        return envelope

    async def claim_event(self, consumer: str, envelope: Envelope) -> bool:
        """Record an incoming event as processed; False when it already was (a duplicate delivery)."""
        return str(envelope.event_id) in await self.claim_events(consumer, [envelope])

    async def claim_events(self, consumer: str, envelopes: Sequence[Envelope]) -> set[str]:
        """Record incoming events as processed in one statement; the ids of those seen for the first time.

        In sorted id order: two consumers claiming the same redelivered events wait, never deadlock."""
        now = utcnow()
        rows = {
            str(envelope.event_id): {
                "consumer": consumer,
                "event_id": str(envelope.event_id),
                "event_type": envelope.type,
                "processed_at": now,
            }
            for envelope in sorted(envelopes, key=lambda envelope: str(envelope.event_id))
        }
        if not rows:
            return set()
        connection = await self.session.connection()
        dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
        statement = (
            dialect_insert(self._inbox)
            .values(list(rows.values()))
            .on_conflict_do_nothing()
            .returning(self._inbox.c.event_id)
        )
        return set((await self.session.execute(statement)).scalars())

    async def commit(self) -> None:
        if self._pending:
            await self.session.execute(
                insert(self._outbox),
                [
                    {
                        "event_id": str(envelope.event_id),
                        "event_type": envelope.type,
                        "correlation_id": envelope.correlation_id,
                        "body": envelope.model_dump_json(),
                        "created_at": envelope.occurred_at,
                        "attempts": 0,
                    }
                    for envelope in self._pending
                ],
            )
        await self.session.commit()
        if self._pending and self._outbox_ready is not None:
            self._outbox_ready.set()
        self._pending = []
