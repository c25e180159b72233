"""Issue 12's "done when", end to end through the public APIs on SQLite and PostgreSQL: a SKU with two
suppliers (a supplier double over real HTTP, not our simulator); the first refuses the PO; the customer's
line moves to the second under a new backorder line id, ships from it with a moved promise and exactly one
message about it, and its payment is captured once (nothing released)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx

from e2e.conftest import SystemFactory, system_with_supplier_double
from e2e.test_outcome_table import SHIP_TO, eventually
from support.adversarial_supplier import (
    CANCEL_REFUSALS,
    PROBLEM_DETAILS,
    AdversarialSupplier,
)

SECRET = "rerouting-secret-0123456789"
# first: the catalog's supplier, cheaper and quicker (routing picks it); second: 5 % dearer, three days slower
SOFA = {
    "sku": "SOFA",
    "name": "Sofa",
    "supplier_id": "first",
    "supplier_sku": "F-SOFA",
    "price": "100",
    "cost": "40",
    "on_hand": 0,
    "lead_time_days": 2,
}
SECOND = {"supplier_sku": "S-SOFA", "unit_cost": "42", "lead_time_days": 5}


def two_suppliers(
    gateway: httpx.Client, aggregator: httpx.Client, orders: httpx.Client, double_url: str, secret: str
) -> None:
    """SOFA from "first" (the catalog's) and "second", both the supplier double over HTTP, each batch leaving
    with its first line."""
    for supplier_id in ("second", "first"):
        gateway.put(
            f"/suppliers/{supplier_id}",
            json={"protocol": "http", "base_url": f"{double_url}/{supplier_id}", "signing_secret": secret},
        ).raise_for_status()
        aggregator.put(f"/suppliers/{supplier_id}", json={"name": supplier_id}).raise_for_status()
        # a minimum of one unit: a line completes its batch and leaves at once
        aggregator.put(
            f"/suppliers/{supplier_id}/policy", json={"min_units": 1, "max_wait_seconds": 3600}
        ).raise_for_status()
    orders.put("/products", json=[SOFA]).raise_for_status()
    orders.put("/products/SOFA/offers/second", json=SECOND).raise_for_status()


async def po_of(double: AdversarialSupplier, supplier_id: str) -> dict[str, Any]:
    script = double.script(supplier_id)
    await eventually(lambda: script.received, bool)
    return next(iter(script.received.values()))


async def test_a_line_refused_by_its_first_supplier_ships_from_the_second(
    make_system: SystemFactory, database_urls: dict[str, str]
) -> None:
    with system_with_supplier_double(make_system(database_urls), SECRET) as running:
        double, double_url, gateway_url = running.double, running.double_url, running.gateway_url
        orders, aggregator, gateway = running.orders, running.aggregator, running.gateway
        two_suppliers(gateway, aggregator, orders, double_url, SECRET)
        # orders has heard where both batches stand (second's word was published before first's)
        today = date.today()
        await eventually(
            lambda: orders.get("/products/SOFA/availability").json()["expected_delivery_date"],
            lambda expected: expected <= str(today + timedelta(days=2 + 3 + 1)),
        )
        double.script("first").placements.append(PROBLEM_DETAILS)

        placed = orders.post(
            "/orders",
            json={"customer_email": "ann@example.com", "ship_to": SHIP_TO, "lines": [{"sku": "SOFA", "quantity": 1}]},
        )
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["order_id"]
        line = placed.json()["lines"][0]
        assert (line["supplier_id"], line["routing"]["reason"]) == ("first", "earliest_within_tolerance")
        first_promise = line["promised_date"]

        # the first supplier refuses the PO: the line moves to the second offer, under a new id, not rejected
        def current() -> dict[str, Any]:
            return dict(orders.get(f"/orders/{order_id}").json()["lines"][0])

        line = await eventually(current, lambda found: found["supplier_id"] == "second", timeout=90)
        assert line["backorder_line_id"] == f"{order_id}-1-r1" and line["status"] != "rejected"
        assert line["tried_suppliers"] == ["first", "second"]
        assert "discontinued" in line["routing"]["rerouted_because"]
        assert line["promised_date"] > first_promise  # three days' more lead time

        po = await po_of(double, "second")
        assert [(item["sku"], item["qty"]) for item in po["lines"]] == [("S-SOFA", 1)]
        shipped = await double.post_signed(gateway_url, "second", "shipment", double.shipment(po["po_number"], (1, 1)))
        assert shipped.json()["status"] == "applied", shipped.text
        line = await eventually(current, lambda found: found["status"] == "shipped", timeout=90)

        # the aggregator's record of each PO stays true: the old id in the refused PO, the new one in the second
        pos = aggregator.get("/purchase-orders").json()
        served = {
            po["supplier_id"]: [
                item["backorder_line_id"]
                for item in aggregator.get(f"/purchase-orders/{po['po_number']}").json()["lines"]
            ]
            for po in pos
        }
        assert served == {"first": [f"{order_id}-1"], "second": [f"{order_id}-1-r1"]}

        payments = orders.get(f"/orders/{order_id}/payments").json()
        captured, released = Decimal(payments["captured"]), Decimal(payments["released"])
        assert (captured, released, payments["reconciled"]) == (Decimal(100), Decimal(0), True)
        messages = await eventually(
            lambda: [m for m in orders.get(f"/orders/{order_id}/messages").json() if m["channel"] == "email"],
            lambda found: "shipped" in [m["kind"] for m in found],
        )
        kinds = [m["kind"] for m in messages]
        assert kinds == ["backorder_placed", "date_moved", "shipped"], kinds
        (moved,) = [m for m in messages if m["kind"] == "date_moved"]
        assert first_promise in moved["body"]


async def test_a_supplier_the_line_left_ships_anyway_and_the_customer_gets_it_once(
    make_system: SystemFactory, database_urls: dict[str, str]
) -> None:
    """The first supplier backorders the line far past its promise: the line moves to the second and the first is
    asked to cancel; it refuses (operations get a cancel_refused exception) and ships. Its goods count, the
    second supplier is asked to cancel its line, and the payment is captured once."""
    with system_with_supplier_double(make_system(database_urls), SECRET) as running:
        double, double_url, gateway_url = running.double, running.double_url, running.gateway_url
        orders, aggregator, gateway = running.orders, running.aggregator, running.gateway
        two_suppliers(gateway, aggregator, orders, double_url, SECRET)
        double.script("first").cancel_default = CANCEL_REFUSALS["409 already shipped"]
        placed = orders.post(
            "/orders",
            json={"customer_email": "ann@example.com", "ship_to": SHIP_TO, "lines": [{"sku": "SOFA", "quantity": 1}]},
        )
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["order_id"]
        assert placed.json()["lines"][0]["supplier_id"] == "first"

        def current() -> dict[str, Any]:
            return dict(orders.get(f"/orders/{order_id}").json()["lines"][0])

        first_po = (await po_of(double, "first"))["po_number"]
        await eventually(current, lambda line: line["po_number"] == first_po, timeout=90)
        late = {
            "line_no": 1,
            "status": "backordered",
            "qty": 1,
            "expected_ship_date": str(date.today() + timedelta(60)),
        }
        acked = await double.post_signed(
            gateway_url, "first", "acknowledgement", double.acknowledgement(first_po, "partial", late)
        )
        assert acked.status_code == 200, acked.text
        line = await eventually(current, lambda found: found["supplier_id"] == "second", timeout=90)
        assert line["backorder_line_id"] == f"{order_id}-1-r1"
        refused = await eventually(
            lambda: gateway.get("/exceptions", params={"kind": "cancel_refused"}).json(), bool, timeout=90
        )
        assert refused[0]["po_number"] == first_po  # operations hear that the first supplier will not cancel
        await po_of(double, "second")

        shipped = await double.post_signed(gateway_url, "first", "shipment", double.shipment(first_po, (1, 1)))
        assert shipped.json()["status"] == "applied", shipped.text
        line = await eventually(current, lambda found: found["status"] == "shipped", timeout=90)
        # the second supplier is asked to cancel its line: the customer does not get the sofa twice
        await eventually(lambda: double.script("second").cancel_calls, bool, timeout=90)
        payments = orders.get(f"/orders/{order_id}/payments").json()
        assert (Decimal(payments["captured"]), Decimal(payments["released"])) == (Decimal(100), Decimal(0))
