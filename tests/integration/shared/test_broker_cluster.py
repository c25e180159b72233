"""A three-node RabbitMQ cluster of the test's own: a service given the three addresses moves to another node when
the one it is connected to stops, and keeps publishing to and consuming from its (replicated) quorum queue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dropship_shared.messaging import Broker
from support import rabbitmq_cluster
from support.broker_failover import cancelled, consumed, publish_until_confirmed
from support.infrastructure import BrokerNamespace
from support.polling import eventually

pytestmark = pytest.mark.skipif(not rabbitmq_cluster.available(), reason="rabbitmq-server is not installed here")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[rabbitmq_cluster.RabbitCluster]:
    with rabbitmq_cluster.running_cluster(tmp_path / "cluster") as nodes:
        yield nodes


@pytest.mark.timeout(900)
async def test_the_node_stops_and_the_service_goes_on_on_another(cluster: rabbitmq_cluster.RabbitCluster) -> None:
    namespace = BrokerNamespace(cluster.url(0), "cluster")
    broker = Broker(",".join(cluster.url(node) for node in range(3)), namespace.exchange)
    await broker.connect()
    try:
        assert broker.address is not None and f":{cluster.ports[0]}/" in broker.address
        seen = await consumed(broker, namespace)
        await publish_until_confirmed(broker, cancelled("before"))
        await eventually(lambda: list(seen), lambda lines: lines == ["before"], timeout=120)

        cluster.stop_node(0)
        await eventually(
            lambda: broker.address, lambda address: f":{cluster.ports[0]}/" not in str(address), timeout=120
        )
        await publish_until_confirmed(broker, cancelled("after"))
        await eventually(lambda: list(seen), lambda lines: "after" in lines, timeout=120)
        assert set(seen) == {"before", "after"}
    finally:
        await broker.close()
