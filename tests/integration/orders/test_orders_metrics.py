"""Outbox lag on `/metrics`, read from the database at the scrape: an order's events committed and not yet
published show as pending rows and an age that grows; the relay publishes them and both go back to 0. On both
engines, with the orders service's own outbox."""

from __future__ import annotations

import asyncio

from test_orders_api import PRODUCTS, order

from dropship_shared.messaging import Broker
from dropship_shared.outbox import OutboxRelay
from orders.adapters.orm import outbox
from support.infrastructure import BrokerNamespace
from support.metrics import scrape, scraped_until
from support.orders_api import orders_app_client


async def test_unpublished_events_show_as_outbox_lag_until_the_relay_publishes_them(
    database_url: str, broker_namespace: BrokerNamespace
) -> None:
    async with orders_app_client(database_url, PRODUCTS) as (app, http):  # no relay runs: the rows stay
        quiet = await scrape(http)
        assert quiet.value("outbox_pending") == 0 and quiet.value("outbox_oldest_pending_age_seconds") == 0
        assert quiet.value("metrics_source_up", source="outbox") == 1

        assert (await http.post("/orders", json=order())).status_code == 201
        lagging = await scraped_until(http, lambda s: (s.value("outbox_oldest_pending_age_seconds") or 0) > 0)
        pending = lagging.value("outbox_pending") or 0
        assert pending >= 1  # the order's events

        broker = Broker(broker_namespace.amqp_url, broker_namespace.exchange)
        await broker.connect()
        try:
            relay = OutboxRelay(app.state.runtime.sessions, outbox, broker, asyncio.Event())
            assert await relay.publish_pending() == pending
        finally:
            await broker.close()
        published = await scrape(http)
        assert published.value("outbox_pending") == 0
        assert published.value("outbox_oldest_pending_age_seconds") == 0
