"""Each service's Alembic migrations build exactly the schema its code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

import aggregator.adapters.orm
import aggregator.bootstrap
import orders.adapters.orm
import orders.bootstrap
import supplier_gateway.adapters.orm
import supplier_gateway.bootstrap
from dropship_shared.migrations import upgrade_to_head

SERVICES = {
    "orders": (orders.bootstrap.MIGRATIONS, orders.adapters.orm.metadata),
    "aggregator": (aggregator.bootstrap.MIGRATIONS, aggregator.adapters.orm.metadata),
    "supplier-gateway": (supplier_gateway.bootstrap.MIGRATIONS, supplier_gateway.adapters.orm.metadata),
}


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_migrations_match_the_models(service: str, database_url: str) -> None:
    migrations, metadata = SERVICES[service]
    await asyncio.to_thread(upgrade_to_head, str(Path(migrations)), database_url)
    await asyncio.to_thread(upgrade_to_head, str(Path(migrations)), database_url)  # again: a no-op
    engine = create_async_engine(database_url)

    def differences(connection: object) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": False})  # type: ignore[arg-type]
        return list(compare_metadata(context, metadata))

    async with engine.connect() as connection:
        diff = await connection.run_sync(differences)
    await engine.dispose()
    assert diff == [], f"{service}: models and migrations differ; add a migration: {diff}"
