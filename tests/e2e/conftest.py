"""End-to-end fixtures: the whole system as real processes on real ports, one broker namespace per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devstack import DEMO_SECRET, SERVICES, System, free_port
from support.adversarial_supplier import AdversarialSupplier, serve_adversarial_supplier
from support.infrastructure import BrokerNamespace, create_database, drop_database
from support.tokens import IDENTITY, bearer

SystemFactory = Callable[..., System]
SERVICES_WITH_DATABASES = ("orders", "aggregator", "supplier-gateway")


@pytest.fixture
def make_system(broker_namespace: BrokerNamespace, tmp_path: Path) -> Iterator[SystemFactory]:
    systems: list[System] = []

    def make(database_urls: dict[str, str] | None = None, **kwargs: object) -> System:
        for name in SERVICES:
            broker_namespace.queue(name)
        system = System(
            tmp_path / f"system{len(systems)}",
            amqp_url=broker_namespace.amqp_url,
            exchange=broker_namespace.exchange,
            queue_prefix=f"{broker_namespace.prefix}.",
            database_urls=database_urls or {},
            ports={name: free_port() for name in SERVICES},
            identity=IDENTITY,
            **kwargs,  # type: ignore[arg-type]
        )
        systems.append(system)
        return system

    yield make
    for system in systems:
        system.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_urls(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The services' databases on each engine: SQLite (each its own file), or fresh PostgreSQL databases."""
    if request.param == "sqlite":
        yield {}
        return
    admin: str = request.getfixturevalue("postgres_admin_url")
    names = {service: f"dropship_{uuid.uuid4().hex[:12]}" for service in ("orders", "aggregator", "supplier-gateway")}
    for name in names.values():
        create_database(admin, name)
    yield {service: admin.rsplit("/", 1)[0] + f"/{name}" for service, name in names.items()}
    for name in names.values():
        drop_database(admin, name)


@pytest.fixture
def service_databases(postgres_admin_url: str) -> Iterator[dict[str, str]]:
    """One fresh PostgreSQL database per service (`make_system(database_urls=...)`), dropped afterwards."""
    names = {name: f"dropship_{name.replace('-', '_')}_{uuid.uuid4().hex[:8]}" for name in SERVICES_WITH_DATABASES}
    for database in names.values():
        create_database(postgres_admin_url, database)
    server = postgres_admin_url.rsplit("/", 1)[0]
    yield {name: f"{server}/{database}" for name, database in names.items()}
    for database in names.values():
        drop_database(postgres_admin_url, database)


@dataclass(frozen=True)
class SystemWithSupplierDouble:
    """The three services running, a supplier double over HTTP, and a client (with a token) for each service."""

    double: AdversarialSupplier
    double_url: str
    gateway_url: str
    orders: httpx.Client
    aggregator: httpx.Client
    gateway: httpx.Client


@contextmanager
def system_with_supplier_double(system: System, secret: str) -> Iterator[SystemWithSupplierDouble]:
    system.start("orders", "aggregator", "supplier-gateway")
    gateway_url = system.url("supplier-gateway")
    with (
        serve_adversarial_supplier(secret) as (double, double_url),
        httpx.Client(base_url=system.url("orders"), timeout=10, headers=bearer()) as orders,
        httpx.Client(base_url=system.url("aggregator"), timeout=10, headers=bearer()) as aggregator,
        httpx.Client(base_url=gateway_url, timeout=10, headers=bearer()) as gateway,
    ):
        yield SystemWithSupplierDouble(double, double_url, gateway_url, orders, aggregator, gateway)


def supply_from_the_simulator(system: System, policy: dict[str, object], skus: list[str]) -> None:
    """The simulator as supplier `acme` of the gateway and the aggregator (with `policy`), and a catalog of
    `skus` it supplies, none in stock: every order line becomes a backorder."""
    with httpx.Client(timeout=30, headers=bearer()) as client:
        client.put(
            f"{system.url('supplier-gateway')}/suppliers/acme",
            json={
                "name": "ACME",
                "protocol": "http",
                "base_url": system.url("supplier-simulator"),
                "signing_secret": DEMO_SECRET,
            },
        ).raise_for_status()
        client.put(f"{system.url('aggregator')}/suppliers/acme", json={"name": "ACME"}).raise_for_status()
        client.put(f"{system.url('aggregator')}/suppliers/acme/policy", json=policy).raise_for_status()
        catalog = [
            {
                "sku": sku,
                "name": sku,
                "supplier_id": "acme",
                "supplier_sku": sku,
                "price": "10",
                "cost": "4",
                "on_hand": 0,
            }
            for sku in skus
        ]
        client.put(f"{system.url('orders')}/products", json=catalog).raise_for_status()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
