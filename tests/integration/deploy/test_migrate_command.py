"""Migrations once per release: `python -m <service> migrate` brings a database to the code's schema and exits; a
service started with MIGRATE_ON_START=false never migrates, waits until its database is migrated, and starts on a
schema newer than its own (a rolled-back release). On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

import aggregator.bootstrap
import orders.adapters.orm
import orders.bootstrap
import supplier_gateway.bootstrap
from dropship_shared.db import create_engine
from dropship_shared.migrations import SchemaState, schema_state, upgrade_to_head, wait_until_migrated
from dropship_shared.runtime import ServiceRuntime
from orders.config import OrdersSettings
from support.infrastructure import BrokerNamespace

MODULES = {
    "orders": orders.bootstrap.MIGRATIONS,
    "aggregator": aggregator.bootstrap.MIGRATIONS,
    "supplier_gateway": supplier_gateway.bootstrap.MIGRATIONS,
}


def migrate_command(
    module: str, database_url: str, cwd: Path, broker: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The Kubernetes Job's command (deploy/kubernetes/base/<service>/migrate-job.yaml), run as a process; the
    database only unless `broker` names the variables of a test's own broker namespace (never the shared names)."""
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_JSON": "true", "MIGRATE_BROKER_TOPOLOGY": "false"}
    env.update(broker or {})
    return subprocess.run(
        [sys.executable, "-m", module, "migrate"], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


async def tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


@pytest.mark.parametrize("module", sorted(MODULES))
async def test_the_migrate_command_brings_the_database_to_the_schema_and_exits(
    module: str, database_url: str, tmp_path: Path
) -> None:
    engine = create_engine(database_url)
    try:
        assert (await schema_state(engine, str(MODULES[module])))[0] is SchemaState.BEHIND
        done = await asyncio.to_thread(migrate_command, module, database_url, tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "database migrated" in done.stdout
        state, current, heads = await schema_state(engine, str(MODULES[module]))
        assert state is SchemaState.CURRENT and current == heads
    finally:
        await engine.dispose()


async def test_a_service_that_does_not_migrate_on_start_waits_for_the_migration(
    database_url: str, broker_namespace: BrokerNamespace, tmp_path: Path
) -> None:
    settings = OrdersSettings(
        database_url=database_url,
        amqp_url=broker_namespace.amqp_url,
        exchange=broker_namespace.exchange,
        queue_prefix=f"{broker_namespace.prefix}.",
        migrate_on_start=False,
    )
    runtime = ServiceRuntime(
        settings, orders.adapters.orm.metadata, orders.adapters.orm.outbox, orders.bootstrap.MIGRATIONS
    )
    starting = asyncio.create_task(runtime.start({}))
    try:
        done, _ = await asyncio.wait({starting}, timeout=3.0)
        assert not done, "started on a database without its schema"
        assert "orders" not in await tables(runtime.engine), "the service migrated although MIGRATE_ON_START is off"

        migrated = await asyncio.to_thread(migrate_command, "orders", database_url, tmp_path)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        await asyncio.wait_for(starting, timeout=60)  # polls every 2 s
        assert (await schema_state(runtime.engine, str(orders.bootstrap.MIGRATIONS)))[0] is SchemaState.CURRENT
    finally:
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        await runtime.stop()


async def test_a_service_starts_on_a_schema_newer_than_its_code(database_url: str) -> None:
    """A release rolled back after its Job migrated: the older code runs on the newer schema instead of waiting
    for ever (migrations are written to be backward compatible, README "Kubernetes")."""
    migrations = str(orders.bootstrap.MIGRATIONS)
    await asyncio.to_thread(upgrade_to_head, migrations, database_url)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_a_newer_release'"))
        assert (await schema_state(engine, migrations))[0] is SchemaState.AHEAD
        state = await asyncio.wait_for(wait_until_migrated(engine, migrations, poll_seconds=0.1), timeout=60)
        assert state is SchemaState.AHEAD
    finally:
        await engine.dispose()
