"""The aggregator's batch figures on `/metrics` (read from the batches' running totals at the scrape) move as
backorders arrive, as an operator holds, as a deadline passes below minimum (escalated), and as the batch is
released; on both engines."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from test_aggregator_handlers import backorder  # the same backorder events

from aggregator.bootstrap import create_app
from aggregator.config import AggregatorSettings
from dropship_shared.messaging import Broker
from support.infrastructure import BrokerNamespace
from support.metrics import scrape, scraped_until
from support.servers import run_uvicorn_app
from support.tokens import bearer


@pytest.fixture
async def aggregator(database_url: str, broker_namespace: BrokerNamespace) -> AsyncIterator[httpx.AsyncClient]:
    settings = AggregatorSettings(
        database_url=database_url,
        amqp_url=broker_namespace.amqp_url,
        exchange=broker_namespace.exchange,
        queue_prefix=f"{broker_namespace.prefix}.",
        log_json=False,
        scheduler_interval_seconds=0.2,
    )
    broker_namespace.queue("aggregator")
    with run_uvicorn_app(create_app(settings), startup_timeout=30) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30, headers=bearer()) as client:
            (await client.put("/suppliers/acme", json={"name": "ACME"})).raise_for_status()
            yield client


async def test_pending_units_and_the_oldest_line_age_move_with_arrivals_hold_escalation_and_release(
    aggregator: httpx.AsyncClient, broker_namespace: BrokerNamespace
) -> None:
    policy = {"min_units": 1000, "max_wait_seconds": 3600, "on_deadline": "escalate"}
    assert (await aggregator.put("/suppliers/acme/policy", json=policy)).status_code == 200
    empty = await scraped_until(aggregator, lambda s: s.value("metrics_source_up", source="broker") == 1)
    assert empty.value("supplier_pending_units", supplier_id="acme") == 0
    assert empty.value("supplier_oldest_pending_line_age_seconds", supplier_id="acme") == 0

    publisher = Broker(broker_namespace.amqp_url, broker_namespace.exchange)
    await publisher.connect()
    try:
        await scraped_until(aggregator, lambda s: s.value("metrics_source_up", source="batches") == 1)
        await publisher.publish(backorder("O1-1", 3))
        await publisher.publish(backorder("O2-1", 4))
    finally:
        await publisher.close()
    waiting = await scraped_until(aggregator, lambda s: s.value("supplier_pending_units", supplier_id="acme") == 7)
    assert waiting.value("supplier_pending_lines", supplier_id="acme") == 2
    assert waiting.value("supplier_batch_held", supplier_id="acme") == 0
    await scraped_until(
        aggregator, lambda s: (s.value("supplier_oldest_pending_line_age_seconds", supplier_id="acme") or 0) > 0
    )

    assert (await aggregator.post("/suppliers/acme/hold")).status_code == 200
    assert (await scrape(aggregator)).value("supplier_batch_held", supplier_id="acme") == 1
    # the deadline passes below minimum while held: the batch waits for a person
    assert (await aggregator.put("/suppliers/acme/policy", json={**policy, "max_wait_seconds": 1})).status_code == 200
    await scraped_until(aggregator, lambda s: s.value("supplier_batch_escalated", supplier_id="acme") == 1)

    assert (await aggregator.post("/suppliers/acme/resume")).status_code == 200
    released = await aggregator.post("/suppliers/acme/release")
    assert released.status_code == 200, released.text
    after = await scraped_until(aggregator, lambda s: s.value("supplier_pending_units", supplier_id="acme") == 0)
    assert after.value("supplier_pending_lines", supplier_id="acme") == 0
    assert after.value("supplier_oldest_pending_line_age_seconds", supplier_id="acme") == 0
    assert after.value("supplier_batch_escalated", supplier_id="acme") == 0
