"""The aggregator's HTTP API served for real (uvicorn, RabbitMQ, SQLite): bad policy input gets a clear 4xx
naming the field and changes nothing; operators hold, resume and release; progress is visible."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from aggregator.bootstrap import create_app
from aggregator.config import AggregatorSettings
from dropship_shared.events import Address, BackorderCreated, Envelope, utcnow
from dropship_shared.messaging import Broker
from support.infrastructure import BrokerNamespace
from support.polling import eventually
from support.servers import consuming, run_uvicorn_app
from support.tokens import bearer


@pytest.fixture
def api(broker_namespace: BrokerNamespace, tmp_path: Path) -> Iterator[httpx.Client]:
    settings = AggregatorSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/aggregator.db",
        amqp_url=broker_namespace.amqp_url,
        exchange=broker_namespace.exchange,
        queue_prefix=f"{broker_namespace.prefix}.",
        log_json=False,
    )
    broker_namespace.queue("aggregator")
    with (
        run_uvicorn_app(create_app(settings)) as url,
        httpx.Client(base_url=url, timeout=10, headers=bearer()) as client,
    ):
        client.put("/suppliers/acme", json={"name": "ACME"}).raise_for_status()
        yield client


GOOD: dict[str, Any] = {"min_units": 10, "max_wait_seconds": 3600}


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ({**GOOD, "min_units": -1}, ["body", "min_units"]),
        ({**GOOD, "min_value": "-5"}, ["body", "min_value"]),
        ({**GOOD, "max_wait_seconds": 0}, ["body", "max_wait_seconds"]),
        ({**GOOD, "on_deadline": "panic"}, ["body", "on_deadline"]),
        ({**GOOD, "sku_rules": {"X": {"case_pack": 0}}}, ["body", "sku_rules", "X", "case_pack"]),
        ({**GOOD, "cutoff": {"local_time": "25:00", "time_zone": "UTC"}}, ["body", "cutoff", "local_time"]),
        ({**GOOD, "cutoff": {"local_time": "15:00", "time_zone": "Mars/Olympus"}}, ["body", "cutoff.time_zone"]),
        (
            {
                **GOOD,
                "sku_rules": {
                    "X": {"price_breaks": [{"min_qty": 10, "unit_cost": "5"}, {"min_qty": 20, "unit_cost": "6"}]}
                },
            },
            ["body", "price_breaks"],
        ),
        ({**GOOD, "max_lines_per_po": 1, "sku_rules": {"X": {"case_pack": 6}}}, ["body", "max_lines_per_po"]),
        ({**GOOD, "surprise": 1}, ["body", "surprise"]),
        ({**GOOD, "small_order_fee": "-1"}, ["body", "small_order_fee"]),
        ({**GOOD, "delay_cost_per_line_day": "-0.5"}, ["body", "delay_cost_per_line_day"]),
    ],
)
def test_bad_policy_is_refused_naming_the_field_and_nothing_changes(
    api: httpx.Client, policy: dict[str, Any], field: list[str]
) -> None:
    response = api.put("/suppliers/acme/policy", json=policy)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == field
    assert api.get("/suppliers/acme/policy").status_code == 404
    assert api.get("/suppliers/acme").json()["policy_version"] == 0


def test_policy_for_an_unknown_supplier_is_404(api: httpx.Client) -> None:
    response = api.put("/suppliers/nobody/policy", json=GOOD)
    assert response.status_code == 404 and "nobody" in response.json()["detail"]


def test_policy_versions_and_operator_commands(api: httpx.Client) -> None:
    assert api.put("/suppliers/acme/policy", json=GOOD).json()["version"] == 1
    second = {**GOOD, "sku_rules": {"AC-1": {"case_pack": 6, "remainder": "round_up"}}}
    assert api.put("/suppliers/acme/policy", json=second).json()["version"] == 2
    assert [v["version"] for v in api.get("/suppliers/acme/policy/versions").json()] == [1, 2]
    assert api.get("/suppliers/acme/policy").json()["sku_rules"]["AC-1"]["case_pack"] == 6

    assert api.post("/suppliers/acme/hold").json()["held"] is True
    held = api.post("/suppliers/acme/release")
    assert held.status_code == 409 and "hold" in held.json()["detail"]
    assert api.post("/suppliers/acme/resume").json()["held"] is False
    assert api.post("/suppliers/acme/release").json() == {"purchase_orders": []}  # nothing pending
    assert api.post("/suppliers/nobody/release").status_code == 404

    status = api.get("/suppliers/acme").json()
    assert (status["min_units"], status["units_progress"], status["pending_lines"]) == (10, 0.0, 0)
    assert api.get("/purchase-orders/PO404").status_code == 404
    assert "/suppliers/{supplier_id}/policy" in api.get("/openapi.json").json()["paths"]
    assert "Drop-ship operations" in api.get("/dashboard").text  # signed out: the sign-in page


async def test_malformed_events_are_visible_on_the_dead_letter_queue_and_replayable(
    api: httpx.Client, broker_namespace: BrokerNamespace
) -> None:
    # Published before the aggregator has bound its queue, the event would be unroutable and simply gone.
    await eventually(lambda: api.get("/readyz"), consuming)
    publisher = Broker(broker_namespace.amqp_url, broker_namespace.exchange)
    await publisher.connect()
    await publisher.publish_raw("backorder.created", b'{"type": "backorder.created"}', "bad-1", "c1")
    await publisher.close()

    def dead_letters() -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = api.get("/admin/dead-letters").json()["messages"]
        return messages

    [letter] = await eventually(dead_letters, bool)
    assert letter["routing_key"] == "backorder.created" and "invalid envelope" in letter["error"]
    assert len(api.get("/admin/dead-letters").json()["messages"]) == 1  # looking does not take it
    assert api.post("/admin/dead-letters/replay").json() == {"replayed": 1}
    [replayed] = api.get("/admin/audit", params={"action": "dead_letters.replay"}).json()
    assert replayed["subject"] == "test-user" and replayed["details"] == {"replayed": 1}
    letters = await eventually(dead_letters, bool)  # still malformed: it comes back to the dead-letter queue, once
    assert [letter["message_id"] for letter in letters] == ["bad-1"]
    assert api.get("/suppliers/acme").json()["pending_lines"] == 0


def test_correlation_id_is_echoed_or_made(api: httpx.Client) -> None:
    given = api.get("/suppliers", headers={"X-Correlation-Id": "trace-42"})
    assert given.headers["X-Correlation-Id"] == "trace-42"
    made = api.get("/healthz").headers["X-Correlation-Id"]
    assert len(made) == 36 and made != api.get("/healthz").headers["X-Correlation-Id"]


async def test_a_backorder_through_the_consumer_is_released_for_a_fee_cheaper_than_waiting(
    api: httpx.Client, broker_namespace: BrokerNamespace
) -> None:
    """A zero fee against any delay cost: the first backorder is ordered at once, far below the minimum."""
    policy = {**GOOD, "min_units": 1000, "small_order_fee": "0", "delay_cost_per_line_day": "2.50"}
    assert api.put("/suppliers/acme/policy", json=policy).status_code == 200
    stored = api.get("/suppliers/acme/policy").json()
    assert (stored["small_order_fee"], stored["delay_cost_per_line_day"]) == ("0", "2.50")
    await eventually(lambda: api.get("/readyz"), consuming)
    publisher = Broker(broker_namespace.amqp_url, broker_namespace.exchange)
    await publisher.connect()
    await publisher.publish(
        Envelope.wrap(
            BackorderCreated(
                backorder_line_id="O1-1",
                order_id="O1",
                line_no=1,
                sku="CHAIR",
                supplier_id="acme",
                supplier_sku="AC-1",
                quantity=2,
                unit_cost=Decimal("40"),
                ship_to=Address(
                    name="Ann", address_lines=["1 Main St"], city="Springfield", postal_code="62701", country="US"
                ),
                customer_ref="O1-1",
                ordered_at=utcnow(),
            ),
            "fee-test",
        )
    )
    await publisher.close()
    [po] = await eventually(lambda: api.get("/purchase-orders", params={"supplier_id": "acme"}).json(), bool)
    assert (po["release_reason"], po["below_minimum"], po["total_units"]) == ("fee_cheaper_than_waiting", True, 2)
    figures = po["release_figures"]
    assert (figures["lines"], figures["small_order_fee"]) == ("1", "0") and Decimal(figures["waiting_cost"]) > 0
