"""Alembic plumbing shared by the services: the async env.py body, a programmatic upgrade, and for a service
that does not migrate on start, the wait until its database is at the schema its code expects."""

from __future__ import annotations

import asyncio
import enum
import time
import zlib

from alembic import command, context
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dropship_shared.db import engine_url, make_sqlite_directory
from dropship_shared.logs import get_logger

log = get_logger(__name__)


def _config(script_location: str) -> Config:
    config = Config()
    config.set_main_option("script_location", script_location)
    return config


def upgrade_to_head(script_location: str, url: str) -> None:
    """Bring a database to the newest schema (blocking: call through asyncio.to_thread from async code)."""
    make_sqlite_directory(url)
    config = _config(script_location)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")


class SchemaState(enum.Enum):
    CURRENT = "current"  # at the newest revision this code knows
    BEHIND = "behind"  # empty, or at an older revision: migrations have not run yet
    AHEAD = "ahead"  # at a revision this code does not know: a newer release migrated it (a rollback)


async def schema_state(engine: AsyncEngine, script_location: str) -> tuple[SchemaState, set[str], set[str]]:
    """Where the database stands against this code's migrations: the state, the database's revisions, the heads."""
    script = ScriptDirectory.from_config(_config(script_location))
    heads = set(script.get_heads())

    def current_revisions(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    async with engine.connect() as connection:
        current = await connection.run_sync(current_revisions)
    if current == heads:
        return SchemaState.CURRENT, current, heads
    known = {revision.revision for revision in script.walk_revisions()}
    return (SchemaState.AHEAD if current - known else SchemaState.BEHIND), current, heads


async def wait_until_migrated(engine: AsyncEngine, script_location: str, poll_seconds: float = 2.0) -> SchemaState:
    """Returns once the database is at this code's schema, or at a newer one (logged: a rolled-back release
    runs on the schema of the newer one, which is why migrations must stay backward compatible). Until then it
    waits for the migrations to be run by someone else (`python -m <service> migrate`, the Kubernetes Job), and
    also while the database cannot be reached. It never migrates anything itself."""
    said_at = float("-inf")
    while True:
        try:
            state, current, heads = await schema_state(engine, script_location)
        except Exception as exc:  # the database may be starting
            state, current, heads, error = None, set(), set(), repr(exc)
        else:
            error = ""
        if state is SchemaState.CURRENT:
            return state
        if state is SchemaState.AHEAD:
            log.warning(
                "database schema is newer than this code; starting on it", current=sorted(current), heads=sorted(heads)
            )
            return state
        if time.monotonic() - said_at > 30:
            said_at = time.monotonic()
            log.info(
                "waiting for the database migrations (MIGRATE_ON_START is off)",
                current=sorted(current),
                heads=sorted(heads),
                error=error,
            )
        await asyncio.sleep(poll_seconds)


def run_env(target_metadata: MetaData) -> None:
    """The whole of a service's alembic env.py: offline SQL or online async migration."""
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("sqlalchemy.url is not set")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, target_metadata))


async def _run_online(url: str, target_metadata: MetaData) -> None:
    engine = create_async_engine(engine_url(url), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas starting together must not migrate the same database at once.
            lock_id = zlib.crc32(f"alembic:{target_metadata.info.get('service', '')}".encode())
            await connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": lock_id})
            await connection.commit()
        await connection.run_sync(_migrate, target_metadata)
        await connection.commit()
    await engine.dispose()


def _migrate(connection: Connection, target_metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
