"""The console's re-routing, served for real against a real orders service (REROUTE=operator) on each engine:
lines refused by their supplier are listed with the offers of their routing decision; an operator re-routes one
to a named supplier and rejects another through the console, orders records each under the operator's name; the
routes are for operations only and bad input is a 4xx problem before anything is forwarded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from integration.orders.test_rerouting_store import INITECH, SOFA

from aggregator.bootstrap import create_app as create_aggregator
from aggregator.config import AggregatorSettings
from dropship_shared.events import Envelope, PurchaseOrderFailed
from dropship_shared.messaging import Broker
from dropship_shared.migrations import upgrade_to_head
from orders.bootstrap import MIGRATIONS
from orders.bootstrap import create_app as create_orders
from orders.config import OrdersSettings
from support.infrastructure import BrokerNamespace
from support.orders_api import SHIP_TO
from support.polling import eventually
from support.servers import run_uvicorn_app
from support.tokens import IDENTITY, bearer

OPERATOR = bearer("operations", subject="carol")


@pytest.fixture
def system(database_url: str, broker_namespace: BrokerNamespace, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(orders URL, aggregator URL): orders waits for an operator when a supplier refuses; the aggregator's
    console calls it with its own operations token."""
    upgrade_to_head(str(MIGRATIONS), database_url)
    orders_settings = OrdersSettings(
        database_url=database_url,
        amqp_url=broker_namespace.amqp_url,
        exchange=broker_namespace.exchange,
        queue_prefix=f"{broker_namespace.prefix}.",
        notify_channels="email",
        reroute="operator",
        log_json=False,
    )
    aggregator_settings = AggregatorSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/aggregator.db",
        amqp_url=broker_namespace.amqp_url,
        exchange=broker_namespace.exchange,
        queue_prefix=f"{broker_namespace.prefix}.",
        log_json=False,
        peer_token=IDENTITY.token("operations", subject="aggregator"),
    )
    broker_namespace.queue("orders")
    broker_namespace.queue("aggregator")
    with (
        run_uvicorn_app(create_orders(orders_settings)) as orders_url,
        run_uvicorn_app(create_aggregator(aggregator_settings.model_copy(update={"orders_url": orders_url}))) as url,
    ):
        yield orders_url, url


async def refuse(broker_namespace: BrokerNamespace, order_id: str) -> None:
    broker = Broker(broker_namespace.amqp_url, broker_namespace.exchange)
    await broker.connect()
    try:
        line_ids = [f"{order_id}-1"]
        refusal = PurchaseOrderFailed(
            po_number=f"PO-{order_id}", supplier_id="initech", reason="discontinued", backorder_line_ids=line_ids
        )
        await broker.publish(Envelope.wrap(refusal, "console-rerouting-test"))
    finally:
        await broker.close()


async def test_an_operator_reroutes_and_rejects_refused_lines_from_the_console(
    system: tuple[str, str], broker_namespace: BrokerNamespace
) -> None:
    orders_url, url = system
    with (
        httpx.Client(base_url=orders_url, timeout=30, headers=bearer()) as orders,
        httpx.Client(base_url=url, timeout=30, headers=OPERATOR) as console,
    ):
        # the aggregator holds initech's batch (no PO of its own races the refusal below)
        console.put("/suppliers/initech", json={"name": "Initech"}, headers=bearer()).raise_for_status()
        console.post("/suppliers/initech/hold").raise_for_status()
        orders.put("/products", json=[SOFA]).raise_for_status()
        orders.put("/products/SOFA/offers/initech", json=INITECH).raise_for_status()
        order_ids = []
        for _ in range(2):
            body = {"customer_email": "ann@example.com", "ship_to": SHIP_TO, "lines": [{"sku": "SOFA", "quantity": 1}]}
            placed = orders.post("/orders", json=body)
            assert placed.status_code == 201, placed.text
            assert placed.json()["lines"][0]["supplier_id"] == "initech"
            order_ids.append(placed.json()["order_id"])
        assert console.get("/dashboard/lines-awaiting-operator").json() == []
        # orders' queue is declared once its consumer is up, which on a busy machine can follow the first answers
        await eventually(lambda: orders.get("/admin/backlog").status_code, lambda code: code == 200)
        for order_id in order_ids:
            await refuse(broker_namespace, order_id)

        def waiting() -> list[dict[str, Any]]:
            return list(console.get("/dashboard/lines-awaiting-operator").json())

        found = await eventually(waiting, lambda lines: len(lines) == 2)
        assert [line["order_id"] for line in found] == order_ids  # oldest first
        first = found[0]
        assert (first["refused_by"], first["tried_suppliers"]) == ("initech", ["initech"])
        assert first["why"] == "our supplier could not take the order (discontinued)"
        assert first["untried_left"] is True and first["open_qty"] == 1
        offers = {offer["supplier_id"]: offer for offer in first["offers"]}
        assert offers["initech"]["refused"] and not offers["acme"]["tried"]
        assert (offers["acme"]["unit_cost"], offers["acme"]["lead_time_days"]) == ("300", 12)
        assert offers["acme"]["expected_delivery"] > offers["initech"]["expected_delivery"]

        # access: operations only, on every console route; bad input refused before anything is forwarded
        first_line, second_line = (f"/dashboard/order-lines/{order_id}/1" for order_id in order_ids)
        for method, path, body in (
            ("GET", "/dashboard/lines-awaiting-operator", None),
            ("POST", f"{first_line}/reroute", {}),
            ("POST", f"{first_line}/reject", {"reason": "gone"}),
        ):
            assert console.request(method, path, json=body, headers=bearer("storefront")).status_code == 403
            assert console.request(method, path, json=body, headers={"Authorization": ""}).status_code == 401
        for path, body in (
            (f"{first_line}/reroute", {"supplier_id": "bad id"}),
            (f"{first_line}/reroute", {"supplier_id": "acme", "extra": 1}),
            (f"{first_line}/reject", {}),
            (f"{first_line}/reject", {"reason": ""}),
            ("/dashboard/order-lines/bad%20id/1/reroute", {}),
            ("/dashboard/order-lines/O1/0/reroute", {}),
        ):
            refused = console.post(path, json=body)
            assert refused.status_code == 422, (path, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
        assert len(waiting()) == 2  # nothing changed

        # re-routed to a named supplier through the console: orders' answer comes back as is
        moved = console.post(f"{first_line}/reroute", json={"supplier_id": "acme"})
        assert moved.status_code == 200, moved.text
        assert (moved.json()["supplier_id"], moved.json()["awaits_operator"]) == ("acme", False)
        again = console.post(f"{first_line}/reroute", json={})
        assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
        rejected = console.post(f"{second_line}/reject", json={"reason": "no supplier has it"})
        assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
        assert console.post("/dashboard/order-lines/NOPE/1/reject", json={"reason": "x"}).status_code == 404
        assert waiting() == []

        # orders recorded both under the operator's name, and the console's activity shows them
        activity = console.get("/dashboard/activity").json()
        done = [(a["who"], a["service"], a["action"], a["target"]) for a in activity if a["service"] == "orders"]
        assert ("carol", "orders", "line.reroute", f"{order_ids[0]}-1-r1") in done
        assert ("carol", "orders", "line.reject", f"{order_ids[1]}-1-r1") in done
