"""The console API of the aggregator served for real: with the other services not configured it still answers
its own part; with them configured but away, the overview says so first; actions on them are a 502 problem;
every call is for operations; the activity shows who did what."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aggregator.bootstrap import create_app
from aggregator.config import AggregatorSettings
from support.infrastructure import BrokerNamespace
from support.polling import eventually
from support.servers import free_port, run_uvicorn_app
from support.tokens import bearer


def serve(broker_namespace: BrokerNamespace, tmp_path: Path, **peers: Any) -> Any:
    settings = AggregatorSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/aggregator.db",
        amqp_url=broker_namespace.amqp_url,
        exchange=broker_namespace.exchange,
        queue_prefix=f"{broker_namespace.prefix}.",
        log_json=False,
        **peers,
    )
    broker_namespace.queue("aggregator")
    return run_uvicorn_app(create_app(settings))


@pytest.fixture
def alone(broker_namespace: BrokerNamespace, tmp_path: Path) -> Iterator[httpx.Client]:
    with serve(broker_namespace, tmp_path) as url, httpx.Client(base_url=url, timeout=30, headers=bearer()) as client:
        client.put("/suppliers/acme", json={"name": "ACME <b>&</b>"}).raise_for_status()
        yield client


async def test_without_the_other_services_the_console_shows_its_own_part(alone: httpx.Client) -> None:
    # its own queue is declared once its consumer is up, which on a busy machine can follow the first answers
    overview = await eventually(
        lambda: alone.get("/dashboard/overview").json(), lambda o: o["backlog"]["aggregator"] is not None
    )
    assert overview["alerts"] == [] and overview["unreachable"] == []
    assert overview["dead_letters"]["aggregator"] == 0 and overview["dead_letters"]["orders"] is None
    assert overview["backlog"]["aggregator"]["queued_events"] == 0
    assert [day["purchase_orders_released"] for day in overview["days"]] == [0] * 7
    [acme] = alone.get("/dashboard/suppliers").json()
    assert acme["name"] == "ACME <b>&</b>" and acme["health"] is None and acme["gateway_answered"] is False
    detail = alone.get("/dashboard/suppliers/acme").json()
    assert detail["lines"] == [] and detail["recent_purchase_orders"] == [] and detail["policy_versions"] == []
    assert alone.get("/dashboard/suppliers/nobody").status_code == 404
    page = alone.get("/dashboard/purchase-orders", params={"q": "ann@example.com"}).json()
    assert page == {"page": 1, "page_size": 25, "has_more": False, "items": []}
    assert alone.get("/dashboard/purchase-orders/PO00000001").status_code == 404
    dead = alone.get("/dashboard/dead-letters").json()
    assert dead["aggregator"]["messages"] == [] and dead["orders"] is None and dead["supplier-gateway"] is None
    for path in ("/dashboard/exceptions", "/dashboard/customers-at-risk", "/dashboard/lines-awaiting-operator"):
        answer = alone.get(path)
        assert answer.status_code == 502 and answer.headers["content-type"] == "application/problem+json"
    for path, body in (
        ("/dashboard/purchase-orders/PO1/retry", None),
        ("/dashboard/purchase-orders/PO1/fail", {"reason": "closed"}),
        ("/dashboard/purchase-orders/PO1/cancel", {"reason": "customer changed their mind"}),
        ("/dashboard/suppliers/acme/send-now", None),
        ("/dashboard/exceptions/e-1/resolve", {"note": "done"}),
        ("/dashboard/dead-letters/orders/replay", None),
        ("/dashboard/order-lines/O1/1/reroute", {}),
        ("/dashboard/order-lines/O1/1/reject", {"reason": "no supplier has it"}),
    ):
        assert alone.post(path, json=body).status_code == 502, path
    assert alone.post("/dashboard/exceptions/e-1/resolve", json={"note": ""}).status_code == 422
    assert alone.post("/dashboard/dead-letters/nobody/replay").status_code == 422
    assert alone.post("/dashboard/dead-letters/aggregator/replay").json() == {"replayed": 0}


def test_the_activity_shows_who_did_what(alone: httpx.Client) -> None:
    alone.post("/suppliers/acme/hold", headers=bearer("operations", subject="carol")).raise_for_status()
    [held, *_] = alone.get("/dashboard/activity").json()
    assert (held["who"], held["service"], held["action"], held["target"]) == (
        "carol",
        "aggregator",
        "batch.hold",
        "acme",
    )


def test_the_console_api_is_for_operations(alone: httpx.Client) -> None:
    paths = [route for route in alone.get("/openapi.json").json()["paths"] if route.startswith("/dashboard/")]
    assert len(paths) >= 12
    for path in ("/dashboard/overview", "/dashboard/suppliers", "/dashboard/purchase-orders", "/dashboard/activity"):
        assert alone.get(path, headers=bearer("storefront")).status_code == 403
        assert alone.get(path, headers={"Authorization": ""}).status_code == 401
    assert alone.post("/dashboard/suppliers/acme/send-now", headers=bearer("storefront")).status_code == 403


def test_services_that_do_not_answer_come_first_on_the_overview(
    broker_namespace: BrokerNamespace, tmp_path: Path
) -> None:
    away = f"http://127.0.0.1:{free_port()}"
    with (
        serve(broker_namespace, tmp_path, orders_url=away, gateway_url=away) as url,
        httpx.Client(base_url=url, timeout=30, headers=bearer()) as client,
    ):
        overview = client.get("/dashboard/overview").json()
        assert sorted(overview["unreachable"]) == ["orders", "supplier-gateway"]
        assert [(a["severity"], a["kind"]) for a in overview["alerts"]] == [("critical", "unreachable")] * 2
        assert overview["days"][-1]["backorders_opened"] is None  # unknown, not zero


def test_an_unchanged_view_answers_304_without_a_body(alone: httpx.Client) -> None:
    first = alone.get("/dashboard/suppliers")
    tag = first.headers["ETag"]
    assert tag.startswith('W/"') and first.headers["Cache-Control"] == "no-cache"
    unchanged = alone.get("/dashboard/suppliers", headers={"If-None-Match": tag})
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged.headers["ETag"] == tag
    alone.post("/suppliers/acme/hold").raise_for_status()
    changed = alone.get("/dashboard/suppliers", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.json()[0]["held"] is True and changed.headers["ETag"] != tag
    assert "ETag" not in alone.get("/suppliers").headers  # only the console's views
