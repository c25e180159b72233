"""Two replicas of each service on a three-node RabbitMQ cluster of the test's own and PostgreSQL, with orders
streaming in (some cancelled): during the stream one broker node stops and the busiest replica of each service
(for the aggregator, the active consumer of the supplier's partition) is killed -9. Afterwards, from the
databases and the doubles' records: every backorder line is on exactly one PO or was cancelled, no PO reached the
supplier twice and no customer message went twice."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack import SERVICES, ServiceProcess, System
from e2e.conftest import supply_from_the_simulator
from support import rabbitmq_cluster
from support.metrics import scrape
from support.order_stream import (
    OrderStream,
    Outcome,
    assert_each_po_sent_once,
    assert_every_line_in_one_po_or_cancelled,
    assert_no_customer_message_twice,
    read_outcome,
)
from support.polling import until_stalled
from support.servers import free_port
from support.tokens import IDENTITY

pytestmark = pytest.mark.skipif(not rabbitmq_cluster.available(), reason="rabbitmq-server is not installed here")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[rabbitmq_cluster.RabbitCluster]:
    with rabbitmq_cluster.running_cluster(tmp_path / "cluster") as nodes:
        yield nodes


@pytest.mark.timeout(900)
async def test_a_broker_node_and_a_replica_of_each_service_die_while_orders_stream_in(
    cluster: rabbitmq_cluster.RabbitCluster, service_databases: dict[str, str], tmp_path: Path
) -> None:
    system = System(
        tmp_path / "system",
        amqp_url=",".join(cluster.url(node) for node in range(3)),
        database_urls=service_databases,
        ports={name: free_port() for name in SERVICES},
        extra_env={
            # the gateway runs with its default lease (30 s, renewed while a PO is being sent): a PO the killed
            # replica was sending is taken over within the test
            "supplier-simulator": {"SIMULATOR_AUTO_SHIP_AFTER_SECONDS": "0.5"},
        },
        identity=IDENTITY,
        replicas=2,
    )

    async def busiest(name: str) -> ServiceProcess:
        """The replica of `name` that has handled the most events so far: for the aggregator, the active consumer
        of the supplier's partition (the other stands by), so that killing it moves the partition."""
        handled = []
        for replica in system.replica_processes[name]:
            async with httpx.AsyncClient(base_url=replica.url, timeout=30) as client:
                handled.append((await scrape(client)).total("events_consumed_total"))
        return system.replica_processes[name][handled.index(max(handled))]

    async def hurt() -> None:
        """Mid-stream: the node every service is connected to (the first address) stops, and the busiest replica
        of each service dies at the same moment."""
        doomed = [await busiest(name) for name in ("orders", "aggregator", "supplier-gateway")]
        stopping = asyncio.create_task(asyncio.to_thread(cluster.stop_node, 0))
        for replica in doomed:
            replica.kill()
        await stopping

    try:
        system.start()
        # Lines leave on a PO at the minimum (3 units), or after 3 s for those left below it.
        supply_from_the_simulator(system, {"min_units": 3, "max_wait_seconds": 3}, ["LAMP", "DESK"])
        stream = OrderStream(system.url("orders"), ("LAMP", "DESK"))
        await stream.run(hurt_after=stream.count // 3, hurt=hurt)

        async def outcome() -> Outcome:
            mailbox = system.workdir / "smtp-sink.log"
            return await read_outcome(service_databases, system.url("supplier-simulator"), mailbox)

        # Waits as long as lines keep settling (a busy machine is slow, not stuck).
        settled = await until_stalled(outcome, lambda seen: len(seen.unsettled), stall_seconds=120)
        assert settled.unsettled == [], {line: settled.order_lines[line] for line in settled.unsettled}
        assert len(settled.order_lines) > stream.count and stream.cancelled
        assert_every_line_in_one_po_or_cancelled(settled)
        assert_each_po_sent_once(settled)
        assert_no_customer_message_twice(settled)
    finally:
        system.stop()
