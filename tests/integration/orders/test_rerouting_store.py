"""Routing and re-routing on each engine, through the API and the event handler: a backorder of a product with
two offers goes to the one routing picks (the decision shown in GET /orders/{id} and the line views); when its
supplier refuses the PO it moves to the other offer under a new backorder line id, keeping its money; stale
news about the old id changes nothing; with REROUTE=operator it waits for an operator, who re-routes or rejects."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from dropship_shared.events import (
    AcknowledgedLine,
    BatchReleaseExpected,
    Envelope,
    Payload,
    PurchaseOrderAcknowledged,
    PurchaseOrderFailed,
    PurchaseOrderLine,
    PurchaseOrderRequested,
    ShipmentUpdated,
    ShippedLine,
    utcnow,
)
from orders.adapters.orm import outbox
from orders.service_layer import event_handlers
from orders.service_layer.unit_of_work import RoutingSetup
from support.orders_api import SHIP_TO, orders_app_client
from support.tokens import bearer

# SOFA: acme (the catalog's supplier) is cheap and slow; initech costs 5 % more and ships in two days.
SOFA = {
    "sku": "SOFA",
    "name": "Sofa",
    "supplier_id": "acme",
    "supplier_sku": "AC-S",
    "price": "800",
    "cost": "300",
    "on_hand": 0,
    "lead_time_days": 12,
}
INITECH = {"supplier_sku": "IN-S", "unit_cost": "315", "lead_time_days": 2}


@pytest.fixture
async def app_client(database_url: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with orders_app_client(database_url, [SOFA]) as (app, http):
        (await http.put("/products/SOFA/offers/initech", json=INITECH)).raise_for_status()
        yield app, http


async def deliver(app: FastAPI, payload: Payload) -> None:
    envelope = Envelope.wrap(payload, "test")
    await event_handlers.handle_event(app.state.uow_factory, envelope, app.state.promise_rules)
    await event_handlers.handle_event(app.state.uow_factory, envelope, app.state.promise_rules)  # a redelivery


async def backorders_sent(app: FastAPI) -> list[dict[str, Any]]:
    async with app.state.uow_factory() as uow:
        rows = await uow.session.execute(
            outbox.select().where(outbox.c.event_type == "backorder.created").order_by(outbox.c.id)
        )
        return [json.loads(row.body)["payload"] for row in rows]


async def kinds(http: httpx.AsyncClient, order_id: str) -> list[str]:
    """The kinds of the customer's messages, oldest first."""
    return [m["kind"] for m in (await http.get(f"/orders/{order_id}/messages")).json()]


async def place(http: httpx.AsyncClient) -> dict[str, Any]:
    body = {"customer_email": "ann@example.com", "ship_to": SHIP_TO, "lines": [{"sku": "SOFA", "quantity": 1}]}
    response = await http.post("/orders", json=body)
    response.raise_for_status()
    return dict(response.json())


async def on_po(app: FastAPI, order_id: str, line_id: str, supplier: str, po_number: str) -> None:
    line = PurchaseOrderLine(
        line_no=1,
        backorder_line_id=line_id,
        sku="SOFA",
        supplier_sku="x",
        quantity=1,
        unit_cost=Decimal("1"),
        ship_to=SHIP_TO,
        customer_ref=f"{order_id}/1",
    )
    await deliver(
        app,
        PurchaseOrderRequested(
            po_number=po_number, supplier_id=supplier, currency="USD", release_reason="x", lines=[line]
        ),
    )


async def test_a_refused_line_moves_to_the_other_offer_and_keeps_its_money(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, http = app_client
    # both batches are below a minimum of 10 units and expected to leave in a day
    for supplier in ("acme", "initech"):
        await deliver(
            app,
            BatchReleaseExpected(
                supplier_id=supplier,
                expected_release_at=utcnow() + timedelta(days=1),
                backorder_line_ids=[],
                pending_units=2,
                pending_value=Decimal("600"),
                min_units=10,
                min_value=Decimal(0),
            ),
        )
    shown = (await http.get("/products/SOFA/availability")).json()  # as an order would be routed
    order = await place(http)
    order_id, line = order["order_id"], order["lines"][0]
    assert (shown["supplier_id"], shown["expected_delivery_date"]) == ("initech", line["promised_date"])
    assert (line["supplier_id"], line["backorder_line_id"], line["tried_suppliers"]) == (
        "initech",
        f"{order_id}-1",
        ["initech"],
    )
    assert line["routing"]["reason"] == "earliest_within_tolerance"
    assert {alt["supplier_id"]: alt["outcome"] for alt in line["routing"]["alternatives"]} == {
        "initech": "chosen",
        "acme": "later",
    }
    first_promise = line["promised_date"]
    await on_po(app, order_id, f"{order_id}-1", "initech", "PO-1")
    told_before = await kinds(http, order_id)
    await deliver(
        app,
        PurchaseOrderFailed(
            po_number="PO-1",
            supplier_id="initech",
            reason="SKU IN-S discontinued",
            backorder_line_ids=[f"{order_id}-1"],
        ),
    )
    line = (await http.get(f"/orders/{order_id}")).json()["lines"][0]
    assert (line["status"], line["supplier_id"], line["backorder_line_id"]) == (
        "backordered",
        "acme",
        f"{order_id}-1-r1",
    )
    assert line["tried_suppliers"] == ["initech", "acme"] and line["po_number"] is None
    assert "discontinued" in line["routing"]["rerouted_because"]
    assert line["promised_date"] > first_promise
    sent = await backorders_sent(app)
    assert [(b["backorder_line_id"], b["supplier_id"], b["supplier_sku"]) for b in sent] == [
        (f"{order_id}-1", "initech", "IN-S"),
        (f"{order_id}-1-r1", "acme", "AC-S"),
    ]
    # the old PO's news about the old id changes nothing now
    await on_po(app, order_id, f"{order_id}-1", "initech", "PO-1")
    assert (await http.get(f"/orders/{order_id}")).json()["lines"][0]["status"] == "backordered"
    payments = (await http.get(f"/orders/{order_id}/payments")).json()
    assert (Decimal(payments["released"]), Decimal(payments["captured"])) == (Decimal(0), Decimal(0))
    assert await kinds(http, order_id) == [*told_before, "date_moved"]  # one message about the move
    figures = (await http.get("/metrics/backorders", params={"group_by": "supplier"})).json()["groups"]
    assert [(group["group"], group["backordered_lines"]) for group in figures] == [("acme", 1)]  # where it went
    found = (await http.get("/order-lines", params={"order_id": order_id})).json()
    assert found[0]["routing"]["supplier_id"] == "acme" and found[0]["awaits_operator"] is False
    # acme refuses too: no offer left, the line is rejected and its money released
    await on_po(app, order_id, f"{order_id}-1-r1", "acme", "PO-2")
    await deliver(
        app,
        PurchaseOrderFailed(po_number="PO-2", supplier_id="acme", reason="no", backorder_line_ids=[f"{order_id}-1-r1"]),
    )
    assert (await http.get(f"/orders/{order_id}")).json()["lines"][0]["status"] == "rejected"
    assert Decimal((await http.get(f"/orders/{order_id}/payments")).json()["released"]) == Decimal(800)


async def test_with_an_operator_a_refused_line_waits_for_their_decision(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, http = app_client
    app.state.uow_factory = _with_routing(app.state.uow_factory, RoutingSetup(automatic=False))
    order_ids = [(await place(http))["order_id"] for _ in range(2)]
    for n, order_id in enumerate(order_ids):
        await deliver(
            app,
            PurchaseOrderFailed(
                po_number=f"PO-{n}", supplier_id="initech", reason="refused", backorder_line_ids=[f"{order_id}-1"]
            ),
        )
    first, second = order_ids
    line = (await http.get(f"/orders/{first}")).json()["lines"][0]
    assert (line["awaits_operator"], line["backorder_line_id"], line["supplier_id"]) == (
        True,
        f"{first}-1-r1",
        "initech",
    )
    assert await backorders_sent(app) and len(await backorders_sent(app)) == 2  # nothing sent for the waiting lines
    waiting = (await http.get("/order-lines", params={"awaits_operator": "true"})).json()
    assert sorted(found["order_id"] for found in waiting) == sorted(order_ids)
    assert all(found["routing"]["alternatives"] for found in waiting)  # what the operator decides from
    refused = await http.post(f"/order-lines/{first}/1/reroute", json={}, headers=bearer("storefront"))
    assert refused.status_code == 403
    assert (await http.post(f"/order-lines/{first}/1/reroute", json={"supplier_id": "bad id"})).status_code == 422
    moved = await http.post(f"/order-lines/{first}/1/reroute", json={})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["supplier_id"], moved.json()["awaits_operator"]) == ("acme", False)
    assert (await backorders_sent(app))[-1]["backorder_line_id"] == f"{first}-1-r1"
    again = await http.post(f"/order-lines/{first}/1/reroute", json={})
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    waiting = (await http.get("/order-lines", params={"awaits_operator": "true"})).json()
    assert [found["order_id"] for found in waiting] == [second]
    rejected = await http.post(f"/order-lines/{second}/1/reject", json={"reason": "no supplier has it"})
    assert rejected.json()["status"] == "rejected"
    assert (await http.post("/order-lines/NOPE/1/reject", json={"reason": "x"})).status_code == 404
    assert (await http.get("/order-lines", params={"awaits_operator": "true"})).json() == []
    log = (await http.get("/admin/audit", params={"limit": 5})).json()
    assert [entry["action"] for entry in log][:2] == ["line.reject", "line.reroute"]


async def events_sent(app: FastAPI, event_type: str) -> list[dict[str, Any]]:
    async with app.state.uow_factory() as uow:
        rows = await uow.session.execute(outbox.select().where(outbox.c.event_type == event_type).order_by(outbox.c.id))
        return [json.loads(row.body)["payload"] for row in rows]


def shipped(po_number: str, supplier: str, line_id: str, shipment_id: str) -> ShipmentUpdated:
    return ShipmentUpdated(
        shipment_id=shipment_id,
        po_number=po_number,
        supplier_id=supplier,
        shipped_at=utcnow(),
        carrier_name="UPS",
        tracking_number=f"1Z{shipment_id}",
        lines=[ShippedLine(backorder_line_id=line_id, line_no=1, quantity=1)],
    )


async def test_a_supplier_the_line_left_ships_anyway_the_customer_gets_it_once_and_pays_once(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """initech backorders the line past its promise: it moves to acme (initech asked to cancel); initech refuses
    the cancellation and ships. Its goods count, acme's backorder is cancelled so the customer does not get the
    sofa twice, and the money is captured once, even when acme ships too."""
    app, http = app_client
    order_id = (await place(http))["order_id"]
    await on_po(app, order_id, f"{order_id}-1", "initech", "PO-1")
    late = AcknowledgedLine(
        backorder_line_id=f"{order_id}-1",
        line_no=1,
        status="backordered",
        quantity=1,
        expected_ship_date=utcnow().date() + timedelta(days=60),
    )
    await deliver(
        app, PurchaseOrderAcknowledged(po_number="PO-1", supplier_id="initech", status="partial", lines=[late])
    )
    line = (await http.get(f"/orders/{order_id}")).json()["lines"][0]
    assert (line["supplier_id"], line["backorder_line_id"]) == ("acme", f"{order_id}-1-r1")
    assert [(c["backorder_line_id"], c["reason"]) for c in await events_sent(app, "backorder.cancelled")] == [
        (f"{order_id}-1", "rerouted")
    ]
    await on_po(app, order_id, f"{order_id}-1-r1", "acme", "PO-2")

    await deliver(app, shipped("PO-1", "initech", f"{order_id}-1", "S-1"))  # it refused to cancel and shipped
    line = (await http.get(f"/orders/{order_id}")).json()["lines"][0]
    assert (line["status"], line["shipped_qty"], line["po_number"]) == ("shipped", 1, "PO-2")
    assert [
        (c["backorder_line_id"], c["supplier_id"], c["reason"]) for c in await events_sent(app, "backorder.cancelled")
    ][1:] == [(f"{order_id}-1-r1", "acme", "shipped_by_previous_supplier")]
    payments = (await http.get(f"/orders/{order_id}/payments")).json()
    assert (Decimal(payments["captured"]), Decimal(payments["released"])) == (Decimal(800), Decimal(0))

    # acme shipped before it heard: the customer has two sofas, the card is charged for one
    await deliver(app, shipped("PO-2", "acme", f"{order_id}-1-r1", "S-2"))
    payments = (await http.get(f"/orders/{order_id}/payments")).json()
    assert (Decimal(payments["captured"]), payments["reconciled"]) == (Decimal(800), True)
    assert len(await events_sent(app, "backorder.cancelled")) == 2  # nothing more to cancel


def _with_routing(factory: Any, routing: RoutingSetup) -> Any:
    def with_routing() -> Any:
        uow = factory()
        uow.routing = routing
        return uow

    return with_routing
