"""A connected `Broker` on the test's own exchange of the shared RabbitMQ."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dropship_shared.messaging import Broker
from support.infrastructure import BrokerNamespace


@pytest.fixture
async def broker(broker_namespace: BrokerNamespace) -> AsyncIterator[Broker]:
    broker = Broker(broker_namespace.amqp_url, broker_namespace.exchange)
    await broker.connect()
    yield broker
    await broker.close()
