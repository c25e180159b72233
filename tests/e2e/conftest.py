"""End-to-end fixtures: the whole system as real processes on real ports, one broker namespace per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack import SERVICES, System, free_port
from support.infrastructure import BrokerNamespace

SystemFactory = Callable[..., System]


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
            **kwargs,  # type: ignore[arg-type]
        )
        systems.append(system)
        return system

    yield make
    for system in systems:
        system.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
