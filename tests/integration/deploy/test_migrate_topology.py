"""`python -m <service> migrate` also declares the service's broker topology (queues, dead-letter queues, bindings,
the aggregator's partitions), so an event published on a brand-new deployment before the service's first replica
started waits in its queue instead of being routed nowhere; an unreachable broker fails the command. On SQLite and
PostgreSQL, on the real broker in a namespace of the test's own."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aio_pika
import httpx
from integration.aggregator.test_aggregator_handlers import backorder
from integration.deploy.test_migrate_command import migrate_command
from sqlalchemy import select

from aggregator.adapters.orm import inbox
from aggregator.bootstrap import create_app
from aggregator.config import AggregatorSettings
from dropship_shared.db import create_engine
from dropship_shared.messaging import Broker, partition_queue
from support.infrastructure import BrokerNamespace
from support.polling import eventually
from support.servers import consuming, run_uvicorn_app

PARTITIONS = 4


def namespace_env(namespace: BrokerNamespace) -> dict[str, str]:
    return {
        "AMQP_URL": namespace.amqp_url,
        "EXCHANGE": namespace.exchange,
        "QUEUE_PREFIX": f"{namespace.prefix}.",
        "SUPPLIER_PARTITIONS": str(PARTITIONS),
        "MIGRATE_BROKER_TOPOLOGY": "true",
    }


async def ready_messages(amqp_url: str, queues: list[str]) -> dict[str, int]:
    """Messages ready in each queue (passive declare: fails if the queue does not exist)."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        ready = {}
        for name in queues:
            declared = await channel.declare_queue(name, passive=True)
            ready[name] = int(declared.declaration_result.message_count or 0)
        return ready
    finally:
        await connection.close()


async def test_an_event_published_after_only_migrate_waits_in_its_queue_and_is_consumed_once_the_service_starts(
    database_url: str, broker_namespace: BrokerNamespace, tmp_path: Path
) -> None:
    queue = broker_namespace.queue("aggregator")
    env = namespace_env(broker_namespace)
    for _ in range(2):  # a Job run again (a re-deployed release) declares the same topology again, no error
        done = await asyncio.to_thread(migrate_command, "aggregator", database_url, tmp_path, env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "broker topology declared" in done.stdout

    publisher = Broker(broker_namespace.amqp_url, broker_namespace.exchange)
    await publisher.connect()
    event = backorder("MIGRATED-1")
    try:
        await publisher.publish(event)  # the broker confirmed it: routed to a queue that exists
    finally:
        await publisher.close()
    queues = [queue, f"{queue}.dlq", *(partition_queue(queue, n) for n in range(PARTITIONS))]
    waiting = await eventually(
        lambda: ready_messages(broker_namespace.amqp_url, queues), lambda r: sum(r.values()) == 1
    )
    assert waiting[queue] == 0 and waiting[f"{queue}.dlq"] == 0, "partitioned by supplier, not in the plain queue"

    settings = AggregatorSettings(
        database_url=database_url,
        amqp_url=broker_namespace.amqp_url,
        exchange=broker_namespace.exchange,
        queue_prefix=f"{broker_namespace.prefix}.",
        supplier_partitions=PARTITIONS,
        migrate_on_start=False,
        log_json=False,
    )
    engine = create_engine(database_url)
    try:
        with run_uvicorn_app(create_app(settings), startup_timeout=60) as url:
            async with httpx.AsyncClient(base_url=url) as client:
                await eventually(lambda: client.get("/readyz"), consuming)

            async def consumed() -> list[str]:
                async with engine.connect() as connection:
                    return list(await connection.scalars(select(inbox.c.event_id)))

            await eventually(consumed, lambda ids: str(event.event_id) in ids)
            await eventually(lambda: ready_messages(broker_namespace.amqp_url, queues), lambda r: sum(r.values()) == 0)
    finally:
        await engine.dispose()


async def test_migrate_fails_with_a_clear_message_when_the_broker_cannot_be_reached(
    database_url: str, broker_namespace: BrokerNamespace, tmp_path: Path
) -> None:
    unreachable = {**namespace_env(broker_namespace), "AMQP_URL": "amqp://guest:guest@127.0.0.1:1/"}
    done = await asyncio.to_thread(migrate_command, "aggregator", database_url, tmp_path, unreachable)
    assert done.returncode != 0
    assert "database migrated" in done.stdout, "the database is migrated first"
    assert "broker topology not declared" in done.stdout + done.stderr
    assert "MIGRATE_BROKER_TOPOLOGY=false" in done.stdout + done.stderr

    skipped = {**unreachable, "MIGRATE_BROKER_TOPOLOGY": "false"}
    done = await asyncio.to_thread(migrate_command, "aggregator", database_url, tmp_path, skipped)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broker topology" not in done.stdout
