"""Every supplier answer ends as the README's outcome table says, end to end through the public APIs, on
SQLite and PostgreSQL, against a supplier double written from the protocol document (not our simulator).

One supplier id per scenario, each with a batch minimum of one unit, so each order gets its own PO:
refused at placement, a cancel refused in other words, a cancel accepted and then shipped anyway, a partial
acceptance, a notice with a bad part, a supplier the gateway does not know, a supplier down past its own
give-up limit, a PO an operator cancels before it reaches its (held) supplier."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import httpx

from e2e.conftest import SystemFactory, system_with_supplier_double
from support.adversarial_supplier import (
    CANCEL_REFUSALS,
    PROBLEM_DETAILS,
    SERVICE_DOWN,
    AdversarialSupplier,
)

T = TypeVar("T")
SECRET = "adversarial-secret-0123456789"
SHIP_TO = {
    "name": "Ann Lee",
    "address_lines": ["1 Main St"],
    "city": "Springfield",
    "postal_code": "62701",
    "country": "US",
}
SCENARIOS = ("refuse", "cancel-refused", "cancel-then-ship", "partial", "bad-part", "down", "held")
# how each scenario's supplier is registered beyond protocol, URL and secret
REGISTRATIONS: dict[str, dict[str, Any]] = {"down": {"give_up_attempts": 2}, "held": {"active": False}}


async def eventually(read: Callable[[], T], condition: Callable[[T], bool], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if condition(value) or time.monotonic() > deadline:
            assert condition(value), value
            return value
        await asyncio.sleep(0.3)


class Shop:
    def __init__(self, orders: httpx.Client, gateway: httpx.Client) -> None:
        self.orders = orders
        self.gateway = gateway

    def order(self, *lines: tuple[str, int]) -> str:
        body = {
            "customer_email": "ann@example.com",
            "ship_to": SHIP_TO,
            "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
        }
        response = self.orders.post("/orders", json=body)
        assert response.status_code in (200, 201), response.text
        return str(response.json()["order_id"])

    def line(self, order_id: str, line_no: int = 1) -> dict[str, Any]:
        return dict(self.orders.get(f"/orders/{order_id}").json()["lines"][line_no - 1])

    async def line_becomes(self, order_id: str, status: str, line_no: int = 1) -> dict[str, Any]:
        return await eventually(lambda: self.line(order_id, line_no), lambda line: line["status"] == status)

    def payments(self, order_id: str) -> dict[str, Any]:
        return dict(self.orders.get(f"/orders/{order_id}/payments").json())

    def messages(self, order_id: str) -> list[dict[str, Any]]:
        return [m for m in self.orders.get(f"/orders/{order_id}/messages").json() if m["channel"] == "email"]

    def exceptions(self, **filters: Any) -> list[dict[str, Any]]:
        return list(self.gateway.get("/exceptions", params=filters).json())


async def received_po(double: AdversarialSupplier, supplier_id: str) -> str:
    script = double.script(supplier_id)
    await eventually(lambda: script.received, bool)
    return next(iter(script.received))


async def test_every_supplier_answer_ends_as_the_outcome_table_says(
    make_system: SystemFactory, database_urls: dict[str, str]
) -> None:
    with system_with_supplier_double(make_system(database_urls), SECRET) as running:
        double, double_url, gateway_url = running.double, running.double_url, running.gateway_url
        orders, aggregator, gateway = running.orders, running.aggregator, running.gateway
        products = []
        for supplier_id in (*SCENARIOS, "ghost"):
            if supplier_id != "ghost":  # the gateway never heard of this one
                gateway.put(
                    f"/suppliers/{supplier_id}",
                    json={
                        "protocol": "http",
                        "base_url": f"{double_url}/{supplier_id}",
                        "signing_secret": SECRET,
                        **REGISTRATIONS.get(supplier_id, {}),
                    },
                ).raise_for_status()
            aggregator.put(f"/suppliers/{supplier_id}", json={"name": supplier_id}).raise_for_status()
            minimum = 2 if supplier_id == "bad-part" else 1  # its order's two lines go on one PO
            aggregator.put(
                f"/suppliers/{supplier_id}/policy", json={"min_units": minimum, "max_wait_seconds": 3600}
            ).raise_for_status()
            for suffix in ("A", "B"):
                products.append(
                    {
                        "sku": f"{supplier_id}-{suffix}".upper(),
                        "name": supplier_id,
                        "supplier_id": supplier_id,
                        "supplier_sku": f"GX-{suffix}",
                        "price": "100",
                        "cost": "40",
                        "on_hand": 0,
                    }
                )
        orders.put("/products", json=products).raise_for_status()
        shop = Shop(orders, gateway)
        double.script("refuse").placements.append(PROBLEM_DETAILS)
        double.script("cancel-refused").cancels.append(CANCEL_REFUSALS["422 Order has shipped"])
        double.script("down").placements.extend([SERVICE_DOWN] * 100)

        refused = shop.order(("REFUSE-A", 2))
        ghost = shop.order(("GHOST-A", 1))
        cancel_refused = shop.order(("CANCEL-REFUSED-A", 1))
        cancel_then_ship = shop.order(("CANCEL-THEN-SHIP-A", 1))
        partial = shop.order(("PARTIAL-A", 3))
        bad_part = shop.order(("BAD-PART-A", 1), ("BAD-PART-B", 1))
        down = shop.order(("DOWN-A", 1))
        held = shop.order(("HELD-A", 2))

        # refused at placement: rejected, released, told in the supplier's words; an exception per line
        line = await shop.line_becomes(refused, "rejected")
        assert "Item GX-9 was discontinued on 2026-10-01" in line["status_reason"]
        payments = shop.payments(refused)
        assert (Decimal(payments["released"]), payments["reconciled"]) == (Decimal(200), True)
        assert any("Item GX-9 was discontinued" in m["body"] for m in shop.messages(refused) if m["kind"] == "rejected")
        (filed,) = shop.exceptions(order_id=refused)
        assert filed["kind"] == "purchase_order_refused"

        # a supplier the gateway does not know: fails at once with that reason
        line = await shop.line_becomes(ghost, "rejected")
        assert "not registered" in line["status_reason"]
        assert [e["kind"] for e in shop.exceptions(order_id=ghost)] == ["supplier_not_registered"]

        # a cancel refused in other words: the line stays, the customer hears it, then it ships
        po_number = await received_po(double, "cancel-refused")
        await shop.line_becomes(cancel_refused, "on_purchase_order")
        assert orders.post(f"/orders/{cancel_refused}/cancel").status_code == 200
        await eventually(lambda: [m["kind"] for m in shop.messages(cancel_refused)], lambda k: "cancel_refused" in k)
        assert shop.line(cancel_refused)["status"] == "on_purchase_order"
        assert "cancelled" not in [m["kind"] for m in shop.messages(cancel_refused)]
        refusals = [m["body"] for m in shop.messages(cancel_refused) if m["kind"] == "cancel_refused"]
        assert any('"Order has shipped"' in body for body in refusals)  # the supplier's own words
        (filed,) = shop.exceptions(order_id=cancel_refused)
        assert (filed["kind"], filed["received"]) == ("cancel_refused", "Order has shipped")
        shipped = await double.post_signed(
            gateway_url, "cancel-refused", "shipment", double.shipment(po_number, (1, 1))
        )
        assert shipped.json()["status"] == "applied"
        line = await shop.line_becomes(cancel_refused, "shipped")
        assert line["shipments"][0]["carrier"] == "Deutsche Post DHL"
        assert Decimal(shop.payments(cancel_refused)["captured"]) == Decimal(100)

        # a cancel accepted, then the goods ship anyway: the shipment wins, money captured, exception
        po_number = await received_po(double, "cancel-then-ship")
        await shop.line_becomes(cancel_then_ship, "on_purchase_order")
        assert orders.post(f"/orders/{cancel_then_ship}/cancel").status_code == 200
        await shop.line_becomes(cancel_then_ship, "cancelled")
        notice = double.shipment(po_number, (1, 1))
        assert (await double.post_signed(gateway_url, "cancel-then-ship", "shipment", notice)).status_code == 200
        await shop.line_becomes(cancel_then_ship, "shipped")
        payments = shop.payments(cancel_then_ship)
        assert (Decimal(payments["captured"]), payments["reconciled"]) == (Decimal(100), True)
        assert [e["kind"] for e in shop.exceptions(order_id=cancel_then_ship)] == ["shipped_after_cancel"]
        assert [m["kind"] for m in shop.messages(cancel_then_ship)][-1] == "shipped"

        # a partial acceptance: the rest is rejected for the customer, its money released
        po_number = await received_po(double, "partial")
        ack = double.acknowledgement(
            po_number, "partial", {"line_no": 1, "status": "accepted", "qty": 1, "reason": "only one left in NJ"}
        )
        assert (await double.post_signed(gateway_url, "partial", "acknowledgement", ack)).status_code == 200
        line = await eventually(lambda: shop.line(partial), lambda line: line["rejected_qty"] == 2)
        assert (line["status"], line["open_qty"]) == ("acknowledged", 1)
        assert Decimal(shop.payments(partial)["released"]) == Decimal(200)
        assert any("only one left in NJ" in m["body"] for m in shop.messages(partial))

        # a notice with a bad part: the good line ships, the bad one is named and filed
        po_number = await received_po(double, "bad-part")
        answer = await double.post_signed(
            gateway_url, "bad-part", "shipment", double.shipment(po_number, (1, 1), (2, 5))
        )
        assert answer.json()["status"] == "partially_applied"
        assert "line 2" in answer.json()["not_applied"][0]
        await shop.line_becomes(bad_part, "shipped", line_no=1)
        assert shop.line(bad_part, 2)["status"] == "on_purchase_order"
        assert [e["kind"] for e in shop.exceptions(order_id=bad_part)] == ["over_shipment"]

        # a supplier down past its own give-up limit (2 attempts, the gateway's default is 20): rejected, released
        line = await shop.line_becomes(down, "rejected")
        assert "gave up after 2 attempts" in line["status_reason"]
        assert Decimal(shop.payments(down)["released"]) == Decimal(100)
        assert [e["kind"] for e in shop.exceptions(order_id=down)] == ["supplier_unreachable"]

        # a PO an operator cancels while its supplier is on hold: never sent, the customer told why
        await shop.line_becomes(held, "on_purchase_order")
        (waiting,) = await eventually(
            lambda: gateway.get("/purchase-orders", params={"supplier_id": "held"}).json(), bool
        )
        cancelled = gateway.post(f"/purchase-orders/{waiting['po_number']}/cancel", json={"reason": "maker closed"})
        assert cancelled.status_code == 200, cancelled.text
        line = await shop.line_becomes(held, "rejected")
        assert "maker closed" in line["status_reason"]
        assert Decimal(shop.payments(held)["released"]) == Decimal(200)
        await eventually(lambda: [m["kind"] for m in shop.messages(held)], lambda kinds: "rejected" in kinds)
        assert gateway.post(f"/purchase-orders/{waiting['po_number']}/cancel", json={"reason": "x"}).status_code == 409
        assert double.script("held").placement_calls == 0
