"""Orders' name on the customer messages it is sending (INSTANCE_ID's default): distinct for processes that share
one HTTP port on a host (HTTP_REUSE_PORT, `scripts/devstack.py --replicas`), the same across a restart."""

from __future__ import annotations

import socket

from orders.config import OrdersSettings


def claimant(replica_port: int = 0) -> str:
    settings = OrdersSettings(
        instance_id="", http_port=8001, http_reuse_port=bool(replica_port), http_replica_port=replica_port
    )
    return settings.message_claimant()


def test_by_default_the_host_and_the_http_port() -> None:
    assert claimant() == f"orders@{socket.gethostname()}:8001"


def test_processes_sharing_a_port_are_named_by_their_own_ports() -> None:
    assert claimant(replica_port=9101) == f"orders@{socket.gethostname()}:9101"
    assert claimant(replica_port=9101) != claimant(replica_port=9102)


def test_an_instance_id_given_is_the_name() -> None:
    assert OrdersSettings(instance_id="orders-a", http_replica_port=9101).message_claimant() == "orders-a"
