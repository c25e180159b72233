"""Two replicas of each service on a three-node RabbitMQ cluster of the test's own and PostgreSQL: mid-stream one
broker node stops and one replica of each service is killed -9. Afterwards every order line is shipped in
exactly one PO, no PO reached the supplier twice and no customer email went twice."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack import SERVICES, System
from e2e.conftest import supply_from_the_simulator
from support import rabbitmq_cluster
from support.orders_api import SHIP_TO
from support.polling import eventually
from support.servers import free_port
from support.tokens import IDENTITY, bearer

pytestmark = pytest.mark.skipif(not rabbitmq_cluster.available(), reason="rabbitmq-server is not installed here")
WAVE = 6


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[rabbitmq_cluster.RabbitCluster]:
    with rabbitmq_cluster.running_cluster(tmp_path / "cluster") as nodes:
        yield nodes


def place(orders_url: str, wave: str) -> list[str]:
    with httpx.Client(base_url=orders_url, timeout=60, headers=bearer()) as orders:
        placed = []
        for n in range(WAVE):
            body = {
                "customer_email": f"{wave}{n}@example.com",
                "ship_to": SHIP_TO,
                "lines": [{"sku": "LAMP", "quantity": 1}],
            }
            response = orders.post("/orders", json=body)
            response.raise_for_status()
            placed.append(response.json()["order_id"])
        return placed


def lines(orders_url: str, order_ids: list[str]) -> list[dict[str, Any]]:
    with httpx.Client(base_url=orders_url, timeout=60, headers=bearer()) as orders:
        return [orders.get(f"/orders/{order_id}").json()["lines"][0] for order_id in order_ids]


@pytest.mark.timeout(900)
async def test_a_broker_node_and_a_replica_of_each_service_die_mid_stream(
    cluster: rabbitmq_cluster.RabbitCluster, service_databases: dict[str, str], tmp_path: Path
) -> None:
    system = System(
        tmp_path / "system",
        amqp_url=",".join(cluster.url(node) for node in range(3)),
        database_urls=service_databases,
        ports={name: free_port() for name in SERVICES},
        extra_env={"supplier-simulator": {"SIMULATOR_AUTO_SHIP_AFTER_SECONDS": "0.5"}},
        identity=IDENTITY,
        replicas=2,
    )
    try:
        system.start()
        supply_from_the_simulator(system, {"min_units": 2, "max_wait_seconds": 5}, ["LAMP"])
        orders_url = system.url("orders")
        placed = place(orders_url, "a")
        cluster.stop_node(0)  # every service was connected to the first address
        for name in ("orders", "aggregator", "supplier-gateway"):
            system.replica_processes[name][0].kill()
        placed += place(orders_url, "b")

        await eventually(
            lambda: [line["status"] for line in lines(orders_url, placed)],
            lambda statuses: all(status == "shipped" for status in statuses),
            timeout=300,
        )
        shipped = lines(orders_url, placed)
        assert all(line["po_number"] for line in shipped)
        with httpx.Client(base_url=system.url("supplier-simulator"), timeout=30) as simulator:
            received = simulator.get("/admin/purchase-orders").json()["orders"]
        assert {po["po_number"] for po in received} == {line["po_number"] for line in shipped}
        assert all(po["receipts"] == 1 for po in received), received
        mailbox = (system.workdir / "smtp-sink.log").read_text(errors="replace")
        message_ids = Counter(re.findall(r"^Message-ID: (<[^>]+>)", mailbox, flags=re.MULTILINE))
        assert message_ids and max(message_ids.values()) == 1, message_ids.most_common(3)
    finally:
        system.stop()
