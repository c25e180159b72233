"""A broker given as several addresses against the real RabbitMQ: a dead node first in the list is skipped, and
losing the node a service is connected to moves it to the next one, where it keeps publishing and consuming."""

from __future__ import annotations

import pytest
from yarl import URL

from dropship_shared.broker_cluster import connect_to_cluster
from dropship_shared.messaging import Broker
from support.broker_failover import cancelled, consumed, publish_until_confirmed
from support.infrastructure import BrokerNamespace
from support.polling import eventually, stays
from support.servers import free_port
from support.tcp_proxy import TcpProxy


def via_port(amqp_url: str, port: int) -> str:
    return str(URL(amqp_url).with_host("127.0.0.1").with_port(port))


async def test_a_dead_address_first_in_the_list_is_skipped(broker_namespace: BrokerNamespace) -> None:
    dead = via_port(broker_namespace.amqp_url, free_port())
    broker = Broker(f"{dead},{broker_namespace.amqp_url}", broker_namespace.exchange)
    await broker.connect()
    try:
        assert broker.address == str(URL(broker_namespace.amqp_url).with_password("******"))
        seen = await consumed(broker, broker_namespace)
        await broker.publish(cancelled("L1"))
        await eventually(lambda: list(seen), lambda lines: lines == ["L1"])
    finally:
        await broker.close()


async def test_no_address_answering_fails_the_connect(broker_namespace: BrokerNamespace) -> None:
    dead = [via_port(broker_namespace.amqp_url, free_port()) for _ in range(2)]
    broker = Broker(",".join(dead), broker_namespace.exchange)
    with pytest.raises(OSError):
        await broker.connect()


async def test_losing_the_node_moves_to_the_next_and_consuming_goes_on(broker_namespace: BrokerNamespace) -> None:
    real = URL(broker_namespace.amqp_url)
    proxy = TcpProxy((real.host or "127.0.0.1", real.port or 5672))
    first = via_port(broker_namespace.amqp_url, await proxy.start())
    broker = Broker(f"{first},{broker_namespace.amqp_url}", broker_namespace.exchange)
    await broker.connect()
    try:
        assert proxy.connections == 1
        assert broker.address is not None and f":{URL(first).port}/" in broker.address
        seen = await consumed(broker, broker_namespace)
        await broker.publish(cancelled("before"))
        await eventually(lambda: list(seen), lambda lines: lines == ["before"])

        await proxy.kill()  # the node this service was connected to dies
        await eventually(lambda: broker.address, lambda address: f":{real.port or 5672}/" in str(address))
        await publish_until_confirmed(broker, cancelled("after"))
        # Topology re-declared and the consumer resumed on the second node: the event published there arrives.
        await eventually(lambda: list(seen), lambda lines: "after" in lines)
        assert set(seen) == {"before", "after"}
    finally:
        await broker.close()


async def test_scripts_connect_with_the_same_list(broker_namespace: BrokerNamespace) -> None:
    """The benchmark and load scripts take `AMQP_URL` as the services do (connect_to_cluster on the text)."""
    dead = via_port(broker_namespace.amqp_url, free_port())
    connection = await connect_to_cluster(f"{dead},{broker_namespace.amqp_url}")
    try:
        assert f":{URL(broker_namespace.amqp_url).port}/" in str(connection)
    finally:
        await connection.close()


async def test_not_connected_while_the_connection_is_being_re_established(broker_namespace: BrokerNamespace) -> None:
    """`connected` is false from the moment the node is lost until the connection, its channels and consumers
    are back (here the only address comes back later), true again after: `/readyz` reports "reconnecting" and
    `broker_connected` is 0 meanwhile (test_readiness.py)."""
    real = URL(broker_namespace.amqp_url)
    target = (real.host or "127.0.0.1", real.port or 5672)
    proxy = TcpProxy(target)
    port = await proxy.start()
    broker = Broker(via_port(broker_namespace.amqp_url, port), broker_namespace.exchange)
    await broker.connect()
    try:
        seen = await consumed(broker, broker_namespace)
        assert broker.connected

        await proxy.kill()
        await eventually(lambda: broker.connected, lambda connected: not connected)
        await stays(lambda: broker.connected, lambda connected: not connected, seconds=2.0)  # still reconnecting

        proxy = TcpProxy(target)
        await proxy.start(port=port)  # the node is back at its address
        await eventually(lambda: broker.connected, lambda connected: connected)
        await publish_until_confirmed(broker, cancelled("back"))
        await eventually(lambda: list(seen), lambda lines: lines == ["back"])  # ready means consuming again
    finally:
        await broker.close()
        await proxy.kill()
