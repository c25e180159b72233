"""docker-compose.yml cannot run on these machines (no Docker engine): this reads it and checks the wiring."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = {"orders": 8001, "aggregator": 8002, "supplier-gateway": 8003}


def test_every_part_of_the_system_is_there_with_a_health_check() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"rabbitmq", "postgres", *SERVICES, "orders-sender", "supplier-simulator"}
    for name, service in services.items():
        assert service["healthcheck"]["test"], name


def test_services_are_built_from_their_own_dockerfiles_which_install_shared() -> None:
    for name in [*SERVICES, "supplier-simulator"]:
        build = COMPOSE["services"][name]["build"]
        assert build["context"] == "."
        dockerfile = (ROOT / build["dockerfile"]).read_text()
        assert "COPY shared/ shared/" in dockerfile
        assert f"COPY services/{name}/" in dockerfile
        module = name.replace("-", "_")
        assert f'"-m", "{module}"' in dockerfile


def test_each_service_owns_its_database_and_waits_for_broker_and_database() -> None:
    init = (ROOT / "deploy" / "postgres-init.sql").read_text()
    for name, port in SERVICES.items():
        service = COMPOSE["services"][name]
        env = service["environment"]
        database = env["DATABASE_URL"].rsplit("/", 1)[1]
        assert f"CREATE DATABASE {database};" in init
        assert env["DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["AMQP_URL"].startswith("amqp://") and "@rabbitmq:" in env["AMQP_URL"]
        [published] = service["ports"]
        assert env["HTTP_PORT"] == str(port) and published.endswith(f":{port}")
        assert str(port) in " ".join(service["healthcheck"]["test"])
        assert service["depends_on"] == {
            "rabbitmq": {"condition": "service_healthy"},
            "postgres": {"condition": "service_healthy"},
        }


def test_the_simulator_calls_back_into_the_gateway_with_the_shared_secret() -> None:
    env = COMPOSE["services"]["supplier-simulator"]["environment"]
    assert env["SIMULATOR_CALLBACK_URL"].startswith("http://supplier-gateway:8003/")
    assert env["SIMULATOR_SECRET"]


def test_each_service_runs_as_replicas_each_with_a_host_port_of_its_own() -> None:
    ranges = []
    for name in SERVICES:
        service = COMPOSE["services"][name]
        replicas = service["deploy"]["replicas"]
        assert replicas >= 2, name
        first, last = (int(port) for port in service["ports"][0].split(":")[0].split("-"))
        assert last - first + 1 >= replicas, name
        ranges.append(range(first, last + 1))
    published = [port for ports in ranges for port in ports]
    assert len(published) == len(set(published)), "the services' host port ranges overlap"


def test_the_customer_messages_go_from_a_sender_of_their_own_on_orders_database() -> None:
    orders, sender = COMPOSE["services"]["orders"], COMPOSE["services"]["orders-sender"]
    assert orders["environment"]["MESSAGE_SENDER"] == "separate"
    assert sender["build"] == orders["build"]
    assert sender["command"] == ["python", "-m", "orders", "send-messages"]
    assert sender["environment"]["DATABASE_URL"] == orders["environment"]["DATABASE_URL"]
    assert sender["environment"]["HTTP_PORT"] in " ".join(sender["healthcheck"]["test"])
    assert sender["depends_on"] == {"postgres": {"condition": "service_healthy"}}
