"""Promises that hold, end to end through the public APIs of orders and the aggregator (real processes):
the first date is an informed one and stands when nothing changes, a slip is told once with one credit, an
earlier date is told once, and surplus received into the warehouse serves the next order from stock."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from dropship_shared.events import utcnow
from e2e.conftest import SystemFactory, supply_from_the_simulator
from support.orders_api import SHIP_TO
from support.polling import eventually, stays
from support.tokens import bearer

DAY = 86400
LEAD_TIME_DAYS = 5
TRANSIT_DAYS = 3


class Shop:
    def __init__(self, orders: httpx.Client, aggregator: httpx.Client) -> None:
        self.orders, self.aggregator = orders, aggregator

    def supplier(self, supplier_id: str, policy: dict[str, Any]) -> None:
        self.aggregator.put(f"/suppliers/{supplier_id}", json={"name": supplier_id}).raise_for_status()
        self.aggregator.put(f"/suppliers/{supplier_id}/policy", json=policy).raise_for_status()

    def product(self, sku: str, supplier_id: str) -> None:
        product = {
            "sku": sku,
            "name": sku,
            "supplier_id": supplier_id,
            "supplier_sku": sku,
            "price": "10",
            "cost": "4",
            "on_hand": 0,
            "lead_time_days": LEAD_TIME_DAYS,
        }
        self.orders.put("/products", json=[product]).raise_for_status()

    def order(self, sku: str, quantity: int) -> dict[str, Any]:
        body = {"customer_email": "ann@example.com", "ship_to": SHIP_TO, "lines": [{"sku": sku, "quantity": quantity}]}
        placed = self.orders.post("/orders", json=body)
        assert placed.status_code == 201, placed.text
        return placed.json()  # type: ignore[no-any-return]

    def line(self, order_id: str) -> dict[str, Any]:
        return self.orders.get(f"/orders/{order_id}").json()["lines"][0]  # type: ignore[no-any-return]

    def told(self, order_id: str) -> list[str]:
        return [m["kind"] for m in self.orders.get(f"/orders/{order_id}/messages").json() if m["channel"] == "email"]

    def availability(self, sku: str) -> dict[str, Any]:
        return self.orders.get(f"/products/{sku}/availability").json()  # type: ignore[no-any-return]

    def status(self, supplier_id: str) -> dict[str, Any]:
        return self.aggregator.get(f"/suppliers/{supplier_id}").json()  # type: ignore[no-any-return]


def in_days(days: int) -> str:
    return str(utcnow().date() + timedelta(days=days))


async def test_promises_hold_and_every_change_is_told_once(make_system: SystemFactory) -> None:
    system = make_system(extra_env={"orders": {"TRANSIT_DAYS": str(TRANSIT_DAYS), "SLIP_TOLERANCE_DAYS": "1"}})
    system.start("orders", "aggregator")
    shop = Shop(
        httpx.Client(base_url=system.url("orders"), timeout=10, headers=bearer()),
        httpx.Client(base_url=system.url("aggregator"), timeout=10, headers=bearer()),
    )

    # 1. An empty batch with a 20-day max wait and a minimum far away: the first promise is its expected release.
    shop.supplier("bulk", {"min_units": 1000, "max_wait_seconds": 20 * DAY})
    shop.product("PALLET", "bulk")
    informed = in_days(20 + LEAD_TIME_DAYS + TRANSIT_DAYS)
    before = await eventually(lambda: shop.availability("PALLET"), lambda a: a["expected_delivery_date"] == informed)
    assert before["expected_delivery_date"] == informed
    empty = shop.status("bulk")
    assert empty["blocked_by"] == ["empty"]
    expected_release = datetime.fromisoformat(empty["expected_release_at"]).date()
    order = shop.order("PALLET", 1)
    line = order["lines"][0]
    assert line["promised_date"] == before["expected_delivery_date"]  # the storefront said the same date
    assert date.fromisoformat(line["promised_date"]) >= expected_release + timedelta(days=LEAD_TIME_DAYS)
    waiting = await eventually(lambda: shop.status("bulk"), lambda s: s["pending_lines"] == 1)
    assert (waiting["units_progress"], waiting["minimum_met"], waiting["blocked_by"]) == (0.001, False, ["min_units"])
    # Joining the batch did not move the date: no apology, no credit.
    await stays(lambda: shop.told(order["order_id"]), lambda kinds: kinds == ["backorder_placed"])
    line = shop.line(order["order_id"])
    assert (line["promised_date"], line["first_promised_date"], line["consolation_credit"]) == (
        informed,
        informed,
        None,
    )

    # 2. A real slip: the operator lengthens the max wait to 40 days. Told once, with one credit.
    shop.aggregator.put("/suppliers/bulk/policy", json={"min_units": 1000, "max_wait_seconds": 40 * DAY})
    slipped = in_days(40 + LEAD_TIME_DAYS + TRANSIT_DAYS)
    line = await eventually(lambda: shop.line(order["order_id"]), lambda line: line["promised_date"] == slipped)
    assert (line["promised_date"], line["first_promised_date"]) == (slipped, informed)
    assert Decimal(line["consolation_credit"]) == Decimal("1.00")  # 10 % of the line's 10.00
    await stays(lambda: shop.told(order["order_id"]), lambda kinds: kinds == ["backorder_placed", "date_moved"])

    # 3. Earlier: the operator releases the batch now; a fact, not an estimate. Told once, as good news.
    shop.aggregator.post("/suppliers/bulk/release").raise_for_status()
    released = in_days(LEAD_TIME_DAYS + TRANSIT_DAYS)
    line = await eventually(lambda: shop.line(order["order_id"]), lambda line: line["promised_date"] == released)
    assert (line["status"], line["promised_date"]) == ("on_purchase_order", released)
    assert Decimal(line["consolation_credit"]) == Decimal("1.00")  # once per line
    await stays(
        lambda: shop.told(order["order_id"]), lambda kinds: kinds == ["backorder_placed", "date_moved", "date_improved"]
    )

    # The figures remember the slip although the line now ends earlier than first promised.
    figures = shop.orders.get("/metrics/backorders", params={"group_by": "supplier"}).json()["groups"]
    bulk = next(group for group in figures if group["group"] == "bulk")
    assert (bulk["slipped_promises"], bulk["slip_days_p50"], bulk["slip_days_p90"]) == (1, 20, 20)
    assert (bulk["credits_issued"], Decimal(bulk["credits_amount"])) == (1, Decimal("1.00"))

    # 4. Case-pack surplus: 3 ordered, a case of 5 bought, 2 on their way to the warehouse.
    shop.supplier(
        "packs",
        {"min_units": 1, "max_wait_seconds": DAY, "sku_rules": {"BOX": {"case_pack": 5, "remainder": "round_up"}}},
    )
    shop.product("BOX", "packs")
    shop.order("BOX", 3)
    incoming = await eventually(lambda: shop.availability("BOX"), lambda a: a["incoming_qty"] == 2)
    assert (incoming["incoming_qty"], incoming["in_stock"]) == (2, False)
    [purchase_order] = shop.aggregator.get("/purchase-orders", params={"supplier_id": "packs"}).json()
    # The next order is promised from the incoming units: no new backorder, no surplus ordered again.
    waiting_box = shop.order("BOX", 2)
    assert waiting_box["lines"][0]["promised_date"] == incoming["expected_delivery_date"]
    await stays(
        lambda: shop.aggregator.get("/purchase-orders", params={"supplier_id": "packs"}).json(), lambda p: len(p) == 1
    )
    assert shop.status("packs")["pending_lines"] == 0

    # The surplus arrives: an operator receives it (once per Idempotency-Key); it serves the waiting line.
    receipt = {"quantity": 2, "po_number": purchase_order["po_number"]}
    received = shop.orders.post("/products/BOX/receipts", json=receipt, headers={"Idempotency-Key": "dock-1"})
    assert received.status_code == 201, received.text
    assert received.json()["served"] == [f"{waiting_box['order_id']}-1"]
    again = shop.orders.post("/products/BOX/receipts", json=receipt, headers={"Idempotency-Key": "dock-1"})
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    assert shop.line(waiting_box["order_id"])["status"] == "allocated"
    [audit] = shop.orders.get("/admin/audit", params={"action": "stock.receive"}).json()
    assert audit["target"] == "BOX"

    # More stock received before anyone waits: the next order is served from stock at once.
    shop.orders.post("/products/BOX/receipts", json={"quantity": 4}).raise_for_status()
    assert shop.availability("BOX")["in_stock"] is True
    from_stock = shop.order("BOX", 3)
    assert (from_stock["lines"][0]["status"], from_stock["lines"][0]["backordered_qty"]) == ("allocated", 0)
    assert shop.availability("BOX")["on_hand"] == 1


async def test_surplus_shipped_to_the_warehouse_is_received_and_serves_the_next_order(
    make_system: SystemFactory,
) -> None:
    """The whole chain with the simulated supplier: the surplus line's shipment notice, the receiving delay, then
    stock (the bug was: shipped, never received, the next order backordered again with more surplus)."""
    system = make_system(
        extra_env={
            "orders": {"RECEIVING_DELAY_SECONDS": "1", "RECEIVING_INTERVAL_SECONDS": "0.2"},
            "supplier-simulator": {"SIMULATOR_AUTO_SHIP_AFTER_SECONDS": "0.5"},
        }
    )
    system.start()
    policy = {
        "min_units": 1,
        "max_wait_seconds": 3600,
        "sku_rules": {"CASE": {"case_pack": 4, "remainder": "round_up"}},
    }
    supply_from_the_simulator(system, policy, ["CASE"])
    shop = Shop(
        httpx.Client(base_url=system.url("orders"), timeout=10, headers=bearer()),
        httpx.Client(base_url=system.url("aggregator"), timeout=10, headers=bearer()),
    )
    first = shop.order("CASE", 3)  # a case of 4 bought: 1 unit for the warehouse
    await eventually(lambda: shop.line(first["order_id"])["status"], lambda status: status == "shipped")
    stock = await eventually(lambda: shop.availability("CASE"), lambda a: a["on_hand"] == 1)
    assert (stock["in_stock"], stock["incoming_qty"]) == (True, 0)
    second = shop.order("CASE", 1)
    assert (second["lines"][0]["status"], second["lines"][0]["backordered_qty"]) == ("allocated", 0)
    assert len(shop.aggregator.get("/purchase-orders", params={"supplier_id": "acme"}).json()) == 1
