"""The shared unit of work on both engines: the redelivery guard, and the events of the aggregates a repository
saved forwarded to the outbox on commit (in the order they were raised, under their correlation id), with no
statement more than before."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import MetaData, event, select
from sqlalchemy.engine.default import CacheStats
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dropship_shared.db import create_engine, session_factory
from dropship_shared.events import BackorderCancelled, Envelope, Payload
from dropship_shared.tables import inbox_table, outbox_table
from dropship_shared.unit_of_work import SqlUnitOfWork

metadata = MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


@dataclass
class Aggregate:
    events: list[Payload] = field(default_factory=list)


def cancelled(line: str) -> BackorderCancelled:
    return BackorderCancelled(backorder_line_id=line, supplier_id="acme")


@dataclass
class Database:
    sessions: async_sessionmaker[AsyncSession]
    statements: list[str]
    compiled: list[bool]  # each statement's: compiled for this execution (not found in the engine's cache)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    statements: list[str] = []
    compiled: list[bool] = []

    def count(_conn: Any, _cursor: Any, statement: str, _parameters: Any, context: Any, _many: bool) -> None:
        statements.append(statement)
        compiled.append(context.cache_hit != CacheStats.CACHE_HIT)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    yield Database(session_factory(engine), statements, compiled)
    await engine.dispose()


async def outbox_rows(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str]]:
    """(backorder line, correlation id) of each outbox row, in the order written."""
    async with sessions() as session:
        rows = (await session.execute(select(outbox.c.body, outbox.c.correlation_id).order_by(outbox.c.id))).all()
    return [(json.loads(body)["payload"]["backorder_line_id"], correlation) for body, correlation in rows]


async def test_a_saved_aggregates_events_go_to_the_outbox_on_commit_in_the_order_raised(database: Database) -> None:
    first, second = Aggregate([cancelled("L1")]), Aggregate()
    async with SqlUnitOfWork(database.sessions, outbox, inbox) as uow:
        uow.correlation_id = "c-1"
        uow.collect(first)
        uow.collect(first)  # saved twice: its events still go once
        first.events.append(cancelled("L2"))
        uow.emit(cancelled("L3"))  # by hand: after what the saved aggregates raised before
        uow.collect(second)
        second.events.append(cancelled("L4"))
        uow.correlation_id = "c-2"  # what follows is caused by something else
        first.events.append(cancelled("L5"))
        assert await outbox_rows(database.sessions) == []  # nothing before the commit
        await uow.commit()
    assert await outbox_rows(database.sessions) == [
        ("L1", "c-1"),
        ("L2", "c-1"),
        ("L3", "c-1"),
        ("L4", "c-1"),
        ("L5", "c-2"),
    ]
    assert first.events == [] and second.events == []


async def test_a_rolled_back_unit_of_work_forwards_nothing(database: Database) -> None:
    saved = Aggregate([cancelled("L1")])
    async with SqlUnitOfWork(database.sessions, outbox, inbox) as uow:
        uow.collect(saved)
    async with SqlUnitOfWork(database.sessions, outbox, inbox) as uow:
        await uow.commit()  # a later unit of work does not carry the first one's aggregates
    assert await outbox_rows(database.sessions) == []


async def test_the_redelivery_guard_lets_each_event_through_once(database: Database) -> None:
    a, b, c = (Envelope.wrap(cancelled(line), f"corr-{line}") for line in ("A", "B", "C"))
    async with SqlUnitOfWork(database.sessions, outbox, inbox) as uow:
        assert await uow.fresh_events("effects", [a, b, a]) == [a, b]  # twice in one batch: once
        await uow.commit()
    async with SqlUnitOfWork(database.sessions, outbox, inbox) as uow:
        assert await uow.fresh_events("effects", [b, c]) == [c]
        assert await uow.fresh_events("others", [b]) == [b]  # each consumer has its own record
        await uow.commit()
    async with SqlUnitOfWork(database.sessions, outbox, inbox) as uow:
        assert not await uow.first_delivery("effects", a)
        assert uow.correlation_id == "corr-A"
    async with SqlUnitOfWork(database.sessions, outbox, inbox) as uow:
        fresh = Envelope.wrap(cancelled("D"), "corr-D")
        assert await uow.first_delivery("effects", fresh)
        assert uow.correlation_id == "corr-D"


async def test_a_batch_costs_one_claim_and_one_outbox_statement(database: Database) -> None:
    """Forwarding on commit adds no statement: the claim, the outbox rows in one insert, the commit."""
    envelopes = [Envelope.wrap(cancelled(f"L{n}"), f"corr-{n}") for n in range(20)]
    saved = [Aggregate() for _ in envelopes]
    async with SqlUnitOfWork(database.sessions, outbox, inbox) as uow:
        database.statements.clear()
        for envelope, aggregate in zip(await uow.fresh_events("effects", envelopes), saved, strict=True):
            uow.correlation_id = envelope.correlation_id
            aggregate.events.append(envelope.payload_as(BackorderCancelled))
            uow.collect(aggregate)
        await uow.commit()
    written = [statement.split()[0].upper() for statement in database.statements]
    assert written.count("INSERT") == 2, database.statements  # the inbox claim, the outbox rows
    assert len(await outbox_rows(database.sessions)) == 20


async def test_claims_of_every_size_share_one_compiled_statement(database: Database) -> None:
    """A batch's claim is compiled once whatever its size, not for every batch (the client CPU of a multi-row
    VALUES statement is mostly its compilation, and one with ON CONFLICT is never cached)."""
    async with SqlUnitOfWork(database.sessions, outbox, inbox) as uow:
        for size in (1, 2):  # one event, or several: the two forms of the statement
            await uow.fresh_events("effects", [Envelope.wrap(cancelled(f"W{size}-{n}"), "c") for n in range(size)])
        database.compiled.clear()
        for size in (1, 2, 5, 11, 5):
            batch = [Envelope.wrap(cancelled(f"L{size}-{n}"), "c") for n in range(size)]
            assert await uow.fresh_events("effects", batch + batch[:1]) == batch
        await uow.commit()
    assert database.compiled[:5] == [False] * 5, database.statements
