"""How a sender of its own learns that customer messages were stored (orders.adapters.message_signals): on
PostgreSQL a notification at the commit of the transaction that stored them (migration 0012's trigger), none for
a rollback or a transaction storing none; on SQLite a look every poll interval."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from dropship_shared.db import is_sqlite
from dropship_shared.events import Address, utcnow
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.adapters.message_signals import message_signals
from orders.domain.effects import CustomerMessage, MessageKind
from orders.domain.model import RequestedLine
from orders.service_layer import handlers
from orders.service_layer.unit_of_work import OrdersUnitOfWork
from support.polling import eventually

SHIP_TO = Address(name="Ann", address_lines=["1 Main St"], city="Springfield", postal_code="62701", country="US")
POLL_SECONDS = 0.05
CANCELLED = CustomerMessage(
    MessageKind.CANCELLED, "o-1", "o-1:1:cancelled", 1, {"sku": "TABLE", "quantity": 1, "refund": "500"}
)


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
async def wakes(database_url: str, journey_uow: UnitOfWorkFactory[OrdersUnitOfWork]) -> AsyncIterator[Wakes]:
    """The signals' loop running on the migrated database, counting the wakes it gives (the first: at start)."""
    seen = Wakes()
    loop = asyncio.create_task(message_signals(database_url, seen, POLL_SECONDS)())
    await eventually(lambda: seen.count, lambda count: count >= 1)
    yield seen
    loop.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await loop


async def place_backorder(uow: UnitOfWorkFactory[OrdersUnitOfWork]) -> None:
    await handlers.place_order(uow, handlers.PlaceOrder("ann@example.com", SHIP_TO, [RequestedLine("TABLE", 1)]), "c")


async def test_postgres_wakes_the_sender_on_the_commit_that_stores_messages_only(
    database_url: str, journey_uow: UnitOfWorkFactory[OrdersUnitOfWork], wakes: Wakes
) -> None:
    if is_sqlite(database_url):
        pytest.skip("SQLite has no notifications: its sender looks (test_sqlite_...)")
    started = wakes.count
    await asyncio.sleep(0.3)
    assert wakes.count == started  # nothing stored: no wake (no polling on PostgreSQL)

    async with journey_uow() as uow:  # a message stored, then rolled back (leaving the block): no notification
        await uow.notifications.enqueue([(CANCELLED, "ann@example.com")], utcnow())
    await asyncio.sleep(0.3)
    assert wakes.count == started
    await place_backorder(journey_uow)
    await eventually(lambda: wakes.count, lambda count: count == started + 1, timeout=5)
    await asyncio.sleep(0.3)
    assert wakes.count == started + 1


async def test_sqlite_wakes_the_sender_every_poll_interval(database_url: str, wakes: Wakes) -> None:
    if not is_sqlite(database_url):
        pytest.skip("PostgreSQL's sender is woken by notifications (test_postgres_...)")
    started = wakes.count
    await asyncio.sleep(10 * POLL_SECONDS)
    assert started + 4 <= wakes.count <= started + 12
