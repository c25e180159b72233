"""Fixtures of the orders integration tests: a migrated database on each engine and its units of work."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from dropship_shared.db import create_engine, session_factory
from dropship_shared.migrations import upgrade_to_head
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.adapters.orm import inbox, outbox
from orders.bootstrap import MIGRATIONS
from orders.domain.model import Product
from orders.service_layer import handlers
from orders.service_layer.unit_of_work import MessageSetup, OrdersUnitOfWork

CATALOG = [
    Product("CHAIR", "Chair", "acme", "AC-1", Decimal("99.50"), Decimal("40"), 2, lead_time_days=5),
    Product("TABLE", "Table", "globex", "GX-9", Decimal("500"), Decimal("210"), 0, lead_time_days=10),
]


JOURNEY_MESSAGES = MessageSetup(channels=("email", "webhook"))


@pytest.fixture
async def journey_sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a migrated database with the catalog loaded."""
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    await handlers.upsert_products(lambda: OrdersUnitOfWork(sessions, outbox, inbox), CATALOG)
    yield sessions
    await engine.dispose()


@pytest.fixture
def journey_uow(journey_sessions: async_sessionmaker[AsyncSession]) -> UnitOfWorkFactory[OrdersUnitOfWork]:
    """Units of work on a migrated database with the catalog loaded; messages go to email and webhook."""
    return lambda: OrdersUnitOfWork(journey_sessions, outbox, inbox, messages=JOURNEY_MESSAGES)


@pytest.fixture
async def orders_database(database_url: str) -> AsyncIterator[tuple[UnitOfWorkFactory[OrdersUnitOfWork], AsyncEngine]]:
    """Units of work on a migrated database with the catalog loaded, and their engine (to watch or dispose)."""
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)

    def factory() -> OrdersUnitOfWork:
        return OrdersUnitOfWork(sessions, outbox, inbox)

    await handlers.upsert_products(factory, CATALOG)
    yield factory, engine
    await engine.dispose()
