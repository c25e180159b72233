"""Each service served for real (uvicorn, RabbitMQ, PostgreSQL) and fuzzed over its OpenAPI document:
no 5xx, no dropped connection, no answer its document does not describe."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.fuzzing import fuzz
from support.infrastructure import BrokerNamespace
from support.servers import run_uvicorn_app
from support.tokens import bearer

# Replaying dead letters has effects beyond the service under test; readiness answers 503 by design whenever the
# database is briefly away (other suites restart things on a shared machine).
SKIP = frozenset({"POST /admin/dead-letters/replay", "GET /readyz"})
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def broker_settings(namespace: BrokerNamespace, service: str) -> dict[str, str]:
    namespace.queue(service)
    return {"amqp_url": namespace.amqp_url, "exchange": namespace.exchange, "queue_prefix": f"{namespace.prefix}."}


def test_fuzzing_the_orders_api(broker_namespace: BrokerNamespace, postgres_url: str) -> None:
    from orders.bootstrap import create_app
    from orders.config import OrdersSettings

    settings = OrdersSettings(
        database_url=postgres_url, notify_channels="", log_json=False, **broker_settings(broker_namespace, "orders")
    )
    with run_uvicorn_app(create_app(settings), startup_timeout=120) as url:
        failures = fuzz(url, headers=bearer(), skip=SKIP)
    assert not failures, "\n\n".join(failures)


def test_fuzzing_the_aggregator_api(broker_namespace: BrokerNamespace, postgres_url: str, tmp_path: Path) -> None:
    """With the services its dashboard reads (the peers keep their data in SQLite files)."""
    from aggregator.bootstrap import create_app
    from aggregator.config import AggregatorSettings
    from orders.bootstrap import create_app as create_orders
    from orders.config import OrdersSettings
    from supplier_gateway.bootstrap import create_app as create_gateway
    from supplier_gateway.config import GatewaySettings

    orders = OrdersSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/orders.db",
        notify_channels="",
        log_json=False,
        **broker_settings(broker_namespace, "orders"),
    )
    gateway = GatewaySettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/gateway.db",
        log_json=False,
        **broker_settings(broker_namespace, "supplier-gateway"),
    )
    with (
        run_uvicorn_app(create_orders(orders), startup_timeout=120) as orders_url,
        run_uvicorn_app(create_gateway(gateway), startup_timeout=120) as gateway_url,
    ):
        settings = AggregatorSettings(
            database_url=postgres_url,
            orders_url=orders_url,
            gateway_url=gateway_url,
            peer_token=bearer("operations")["Authorization"].removeprefix("Bearer "),
            log_json=False,
            **broker_settings(broker_namespace, "aggregator"),
        )
        with run_uvicorn_app(create_app(settings), startup_timeout=120) as url:
            failures = fuzz(url, headers=bearer(), skip=SKIP)
    assert not failures, "\n\n".join(failures)


def test_fuzzing_the_supplier_gateway_api(broker_namespace: BrokerNamespace, postgres_url: str) -> None:
    from supplier_gateway.bootstrap import create_app
    from supplier_gateway.config import GatewaySettings

    settings = GatewaySettings(
        database_url=postgres_url, log_json=False, **broker_settings(broker_namespace, "supplier-gateway")
    )
    with run_uvicorn_app(create_app(settings), startup_timeout=120) as url:
        failures = fuzz(url, headers=bearer(), skip=SKIP)
    assert not failures, "\n\n".join(failures)
