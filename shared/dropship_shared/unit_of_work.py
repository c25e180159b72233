"""The transaction boundary: a state change, its outgoing events (outbox) and the inbox mark commit together.

Every handler of every service goes the same way through it: open a unit of work; for events, let the
redelivery guard (`fresh_events`, `first_delivery`) say which deliveries are new; load, change and save
aggregates through the repositories, which hand each saved aggregate to `collect`; commit. The aggregates'
new events are forwarded to the outbox then, not by each handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Protocol, Self, TypeVar

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dropship_shared.db import insert_many
from dropship_shared.events import Envelope, Payload, utcnow
from dropship_shared.tracing import traceparent_of


class HasEvents(Protocol):
    """An aggregate that records what happened to it as events (its changes' consequences for others)."""

    events: list[Payload]


# What a repository calls with each aggregate it saved: the unit of work's `collect`.
CollectEvents = Callable[[HasEvents], None]


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
        self._collected: dict[int, HasEvents] = {}  # by identity, in the order collected
        self._correlation_id = "-"

    async def __aenter__(self) -> Self:
        self.session = self._sessions()
        self._pending = []
        self._collected = {}
        self._open()
        return self

    @property
    def correlation_id(self) -> str:
        """The correlation id the events emitted from now on carry (and whose trace they continue)."""
        return self._correlation_id

    @correlation_id.setter
    def correlation_id(self, correlation_id: str) -> None:
        # What the collected aggregates raised so far was caused under the correlation id in force until now.
        self.forward_events()
        self._correlation_id = correlation_id

    def _open(self) -> None:
        """Hook for subclasses: build repositories on `self.session`."""

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.session.rollback()
        finally:
            await self.session.close()

    def collect(self, aggregate: HasEvents) -> None:
        """Called by a repository with an aggregate it saved (or loaded to change): its new events are
        forwarded to the outbox of this transaction on commit, under the correlation id in force when they
        were raised (an event emitted by hand, or a change of correlation id, first forwards what the
        collected aggregates raised before)."""
        self._collected.setdefault(id(aggregate), aggregate)

    def forward_events(self) -> None:
        """Forward now what the collected aggregates raised so far (the commit does it anyway): for a service
        that writes more of their consequences in the transaction and wants the events first."""
        for aggregate in self._collected.values():
            self._forward(aggregate)

    def collect_caused_by(self, correlation_id: str, aggregate: HasEvents) -> None:
        """As setting `correlation_id` and then collecting `aggregate`, when what the aggregates collected before
        raised has been forwarded already: the aggregate's events are forwarded now under `correlation_id`,
        without walking the others again (a batch of new orders, each under its own request's id: walking them
        all for each order would cost the batch a time quadratic in its size)."""
        self._correlation_id = correlation_id
        self.collect(aggregate)
        self._forward(aggregate)

    def _forward(self, aggregate: HasEvents) -> None:
        self._forwarding(aggregate)
        for event in aggregate.events:
            self._emit(event)
        aggregate.events.clear()

    def _forwarding(self, aggregate: HasEvents) -> None:
        """Hook for subclasses: `aggregate`'s new events are about to be forwarded under `correlation_id`."""

    def emit(self, payload: Payload) -> Envelope:
        """Queue an event to be written to the outbox in this transaction (one no aggregate records)."""
        self.forward_events()
        return self._emit(payload)

    def _emit(self, payload: Payload) -> Envelope:
        envelope = Envelope.wrap(payload, self.correlation_id, traceparent=traceparent_of(self.correlation_id))
        self._pending.append(envelope)
        return envelope

    async def first_delivery(self, consumer: str, envelope: Envelope) -> bool:
        """The redelivery guard of a handler of one event: the event is recorded as processed by `consumer`
        in this transaction, and what follows carries its correlation id; False when it was processed before
        (a redelivery: nothing to do)."""
        self.correlation_id = envelope.correlation_id
        return bool(await self.fresh_events(consumer, [envelope]))

    async def fresh_events(self, consumer: str, envelopes: Sequence[Envelope]) -> list[Envelope]:
        """The redelivery guard of a handler of events delivered together: they are recorded as processed by
        `consumer` in this transaction (one statement); those processed for the first time, in delivery
        order, each once (an event delivered twice in the batch counts once)."""
        claimed = await self.claim_events(consumer, envelopes)
        fresh = []
        for envelope in envelopes:
            if str(envelope.event_id) in claimed:
                claimed.discard(str(envelope.event_id))
                fresh.append(envelope)
        return fresh

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
        inserted = await insert_many(
            self.session, self._inbox, list(rows.values()), ignore_duplicates=True, returning=self._inbox.c.event_id
        )
        return set(inserted)

    async def commit(self) -> None:
        self.forward_events()
        if self._pending:
            await insert_many(
                self.session,
                self._outbox,
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


UnitOfWork = TypeVar("UnitOfWork", bound=SqlUnitOfWork)
# How a handler opens a transaction: `UnitOfWorkFactory[GatewayUnitOfWork]` and so on, one per service.
UnitOfWorkFactory = Callable[[], UnitOfWork]
