"""Finding the real broker and database for tests: environment first, then testcontainers, else fail."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import aio_pika
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

HOW_TO = (
    "Tests need a real {what}. Set {var} (e.g. {example}) or run a Docker engine so "
    "testcontainers can start one. See ../shared/docs/testing.md."
)


def _docker_available() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env().ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def find_amqp_url() -> Iterator[str]:
    url = os.environ.get("AMQP_URL")
    if url:
        yield url
        return
    if _docker_available():
        from testcontainers.rabbitmq import RabbitMqContainer

        with RabbitMqContainer("rabbitmq:3.13-management") as container:
            params = container.get_connection_params()
            yield f"amqp://guest:guest@{params.host}:{params.port}/"
        return
    pytest.fail(HOW_TO.format(what="RabbitMQ", var="AMQP_URL", example="amqp://guest:guest@127.0.0.1:5672/"))


@contextlib.contextmanager
def find_postgres_admin_url() -> Iterator[str]:
    url = os.environ.get("TEST_POSTGRES_URL")
    if url:
        yield url
        return
    if _docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16", driver="asyncpg") as container:
            yield container.get_connection_url()
        return
    pytest.fail(
        HOW_TO.format(
            what="PostgreSQL",
            var="TEST_POSTGRES_URL",
            example="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
        )
    )


def _admin_execute(admin_url: str, statement: str) -> None:
    import asyncio

    async def run() -> None:
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as connection:
            await connection.execute(text(statement))
        await engine.dispose()

    asyncio.run(run())


def create_database(admin_url: str, name: str) -> None:
    _admin_execute(admin_url, f'CREATE DATABASE "{name}"')


def drop_database(admin_url: str, name: str) -> None:
    _admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def counted_pings(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The connections the engine's pool pings from now on (each ping still done), in a list that grows."""
    pings: list[object] = []
    ping = engine.dialect.do_ping

    def counted_ping(connection: object) -> bool:
        pings.append(connection)
        return ping(connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted_ping)
    return pings


async def backend_pid(engine: AsyncEngine) -> int:
    """The server process of a connection of the engine's pool (its one connection, for a pool of one)."""
    async with engine.connect() as connection:
        pid: int = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        return pid


async def terminate_backend(database_url: str, pid: int) -> None:
    """The server drops that connection, as a restart or an idle timeout would."""
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await admin.dispose()


class BrokerNamespace:
    """Per-test exchange and queue prefix on the shared broker; `cleanup` deletes what the test declared."""

    def __init__(self, amqp_url: str, prefix: str) -> None:
        self.amqp_url = amqp_url
        self.prefix = prefix
        self.exchange = f"{prefix}.events"
        self.declared: set[str] = set()

    def queue(self, name: str) -> str:
        """The prefixed queue name a service under test will declare (remembered for cleanup)."""
        full = f"{self.prefix}.{name}"
        self.declared.update({full, f"{full}.dlq"})
        return full

    async def cleanup(self) -> None:
        connection = await aio_pika.connect(self.amqp_url)
        try:
            for queue_name in sorted(self.declared):
                channel = await connection.channel()
                with contextlib.suppress(Exception):
                    await channel.queue_delete(queue_name)
                if not queue_name.endswith(".dlq"):
                    await _delete_partitions(connection, queue_name)
            for exchange in (self.exchange, f"{self.exchange}.dlx"):
                channel = await connection.channel()
                with contextlib.suppress(Exception):
                    await channel.exchange_delete(exchange)
        finally:
            await connection.close()


async def _delete_partitions(connection: aio_pika.abc.AbstractConnection, queue_name: str) -> None:
    """The partition queues `<queue>.p<n>` a partitioned subscription declared, and their hash exchange."""
    for number in range(256):
        channel = await connection.channel()
        try:
            await channel.declare_queue(f"{queue_name}.p{number}", passive=True)
        except Exception:
            break
        await channel.queue_delete(f"{queue_name}.p{number}")
    channel = await connection.channel()
    with contextlib.suppress(Exception):
        await channel.exchange_delete(f"{queue_name}.partitions")
