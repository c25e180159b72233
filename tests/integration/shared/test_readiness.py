"""Readiness fits the outbox: a service whose broker is away keeps serving (its events wait in the outbox), so
`/readyz` stays ready and reports the broker's state, and `broker_connected` says it to the alert rules."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from yarl import URL

from aggregator.bootstrap import create_app
from aggregator.config import AggregatorSettings
from dropship_shared import messaging
from support.infrastructure import BrokerNamespace
from support.metrics import scrape
from support.polling import eventually
from support.servers import run_uvicorn_app
from support.tcp_proxy import TcpProxy
from support.tokens import bearer


async def readiness(client: httpx.AsyncClient) -> tuple[int, str]:
    answer = await client.get("/readyz")
    return answer.status_code, answer.json()["broker"]


async def broker_connected(client: httpx.AsyncClient) -> float | None:
    return (await scrape(client)).value("broker_connected")


def aggregator_settings(
    tmp_path: Path, broker_namespace: BrokerNamespace, amqp_url: str, partitions: int
) -> AggregatorSettings:
    broker_namespace.queue("aggregator")
    return AggregatorSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/aggregator.db",
        amqp_url=amqp_url,
        exchange=broker_namespace.exchange,
        queue_prefix=f"{broker_namespace.prefix}.",
        supplier_partitions=partitions,
        log_json=False,
    )


async def test_ready_while_the_broker_reconnects_which_it_reports(
    broker_namespace: BrokerNamespace, tmp_path: Path
) -> None:
    real = URL(broker_namespace.amqp_url)
    target = (real.host or "127.0.0.1", real.port or 5672)
    proxy = TcpProxy(target)
    port = await proxy.start()
    settings = aggregator_settings(tmp_path, broker_namespace, str(real.with_host("127.0.0.1").with_port(port)), 0)
    try:
        with run_uvicorn_app(create_app(settings)) as url:
            async with httpx.AsyncClient(base_url=url, timeout=10, headers=bearer()) as client:
                assert await eventually(lambda: readiness(client), lambda seen: seen == (200, "connected"))
                assert await broker_connected(client) == 1

                await proxy.kill()  # the broker is away: the API keeps serving, the events wait in the outbox
                await eventually(lambda: readiness(client), lambda seen: seen == (200, "reconnecting"))
                assert await broker_connected(client) == 0
                assert (await client.put("/suppliers/acme", json={"name": "ACME"})).status_code == 200
                for look in (client.get("/admin/dead-letters"), client.post("/admin/dead-letters/replay")):
                    answer = await look  # the dead letters are in the broker: not there now, say so
                    assert answer.status_code == 503, answer.text
                    assert answer.headers["content-type"] == "application/problem+json"

                proxy = TcpProxy(target)
                await proxy.start(port=port)  # the broker is back at its address
                await eventually(lambda: readiness(client), lambda seen: seen == (200, "connected"))
                assert await broker_connected(client) == 1
                assert (await client.get("/admin/dead-letters")).status_code == 200
    finally:
        await proxy.kill()


async def test_a_broker_without_the_partitions_plugin_is_reported_not_unready(
    broker_namespace: BrokerNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(messaging, "CONSISTENT_HASH", "x-no-such-exchange-type")  # as a broker without the plugin
    settings = aggregator_settings(tmp_path, broker_namespace, broker_namespace.amqp_url, 4)
    with run_uvicorn_app(create_app(settings)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10, headers=bearer()) as client:
            assert await eventually(lambda: readiness(client), lambda seen: seen[1] == "plugin_missing") == (
                200,
                "plugin_missing",
            )
            assert await broker_connected(client) == 0
