"""Test-wide fixtures: the real RabbitMQ and PostgreSQL (see docs/testing.md), with per-run names."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from support.infrastructure import (
    BrokerNamespace,
    create_database,
    drop_database,
    find_amqp_url,
    find_postgres_admin_url,
)
from support.tokens import IDENTITY, SUPPLIER_SECRETS_KEY

# Every service a test creates trusts the suite's identity (support/tokens.py): tests call them with bearer();
# the gateways seal supplier secrets with the suite's key.
os.environ.update(IDENTITY.service_env())
os.environ["SUPPLIER_SECRETS_KEY"] = SUPPLIER_SECRETS_KEY


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with find_amqp_url() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    with find_postgres_admin_url() as url:
        yield url


@pytest.fixture
async def broker_namespace(amqp_url: str) -> AsyncIterator[BrokerNamespace]:
    """A fresh exchange and queue prefix for one test, deleted afterwards."""
    namespace = BrokerNamespace(amqp_url, f"t{uuid.uuid4().hex[:10]}")
    yield namespace
    await namespace.cleanup()


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    name = f"dropship_{uuid.uuid4().hex[:12]}"
    create_database(postgres_admin_url, name)
    yield postgres_admin_url.rsplit("/", 1)[0] + f"/{name}"
    drop_database(postgres_admin_url, name)


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/service.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Both supported engines: repositories are proven on each."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


def pytest_report_header() -> list[str]:
    return [
        f"AMQP_URL={os.environ.get('AMQP_URL', '<unset: testcontainers or failure>')}",
        f"TEST_POSTGRES_URL={os.environ.get('TEST_POSTGRES_URL', '<unset: testcontainers or failure>')}",
    ]
