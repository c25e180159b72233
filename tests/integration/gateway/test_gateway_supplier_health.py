"""What the operations console reads from the gateway: each supplier's health (down, refusing, the error and
when, POs waiting and failed), sending a supplier's waiting POs now, POs found by number or SKU a page at a
time, and operator actions audited with the person a service acted for."""

from __future__ import annotations

from typing import Any

import pytest
from test_gateway_http_flow import (  # the gateway + simulator harness
    eventually,
    gateway_settings,
    harness_factory,
    observer,
    purchase_order,
)

from support.tokens import bearer

__all__ = ["gateway_settings", "harness_factory", "observer"]  # fixtures used here


async def health_of(h: Any, supplier_id: str = "acme") -> dict[str, Any]:
    found = (await h.gateway.get("/supplier-health")).json()
    return next((item for item in found if item["supplier_id"] == supplier_id), {})


async def test_a_down_supplier_shows_with_its_error_and_its_waiting_pos_go_when_sent_now(harness_factory: Any) -> None:
    async with harness_factory(auto_ship_after_seconds=-1) as h:
        assert (await health_of(h))["condition"] == "ok"
        await h.supplier.post("/admin/faults", json={"fail_next": 10_000, "status": 503})
        await h.request(purchase_order("PO-900", 1))
        down = await eventually(lambda: health_of(h), lambda found: found.get("condition") == "down")
        assert "503" in down["last_error"] and down["last_error_at"] is not None
        assert down["waiting_purchase_orders"] == 1 and down["oldest_waiting_since"] is not None
        assert down["registered"] and down["protocol"] == "http"

        await h.supplier.delete("/admin/faults")
        sent = await h.gateway.post("/suppliers/acme/send-now", headers={**bearer(), "X-On-Behalf-Of": "alice"})
        assert sent.status_code == 200 and sent.json() == {"supplier_id": "acme", "waiting_purchase_orders": 1}
        await eventually(lambda: h.po("PO-900"), lambda po: po["state"] in ("sent", "acknowledged"))
        back = await eventually(lambda: health_of(h), lambda found: found.get("condition") == "ok")
        assert back["waiting_purchase_orders"] == 0 and back["circuit"] == "closed" and back["last_success_at"]
        [action] = (await h.gateway.get("/admin/audit", params={"action": "supplier.send_now"})).json()
        assert action["target"] == "acme" and action["details"]["on_behalf_of"] == "alice"


async def test_a_refusing_supplier_and_the_pos_it_refused(harness_factory: Any) -> None:
    async with harness_factory() as h:
        await h.supplier.post("/admin/faults", json={"reject_next": 1, "reject_reason": "account on stop"})
        await h.request(purchase_order("PO-910", 1))
        await h.wait_for_state("PO-910", "failed")
        refusing = await health_of(h)
        assert refusing["condition"] == "refusing" and refusing["last_error"] == "account on stop"
        assert refusing["failed_purchase_orders"] == 1 and refusing["open_exceptions"] == 1

        [filed] = (await h.gateway.get("/exceptions", params={"open": True})).json()
        resolved = await h.gateway.post(
            f"/exceptions/{filed['exception_id']}/resolve",
            json={"note": "paid the invoice"},
            headers={**bearer(), "X-On-Behalf-Of": "bob"},
        )
        assert resolved.status_code == 200
        [action] = (await h.gateway.get("/admin/audit", params={"action": "exception.resolve"})).json()
        assert action["target"] == filed["exception_id"]
        assert action["details"] == {
            "kind": "purchase_order_refused",
            "note": "paid the invoice",
            "on_behalf_of": "bob",
        }
        assert (await health_of(h))["open_exceptions"] == 0


async def test_purchase_orders_by_number_and_sku_a_page_at_a_time(harness_factory: Any) -> None:
    async with harness_factory() as h:
        for number in range(3):  # one after the other, so the newest first is PO-922 whatever the consumer's pace
            await h.request(purchase_order(f"PO-92{number}", 1, number + 1))
            await h.wait_for_state(f"PO-92{number}", "shipped")

        async def numbers(**params: Any) -> list[str]:
            answer = await h.gateway.get("/purchase-orders", params=params)
            assert answer.status_code == 200, answer.text
            return [po["po_number"] for po in answer.json()]

        assert await numbers(po_number=["PO-920", "PO-922", "PO-999"]) == ["PO-922", "PO-920"]
        assert await numbers(sku="SKU-2") == ["PO-922", "PO-921", "PO-920"]
        assert await numbers(sku="SKU-2", po_number="PO-921") == ["PO-921"]
        assert await numbers(sku="NOPE") == []
        assert await numbers(limit=2) == ["PO-922", "PO-921"]
        assert await numbers(limit=2, offset=2) == ["PO-920"]
        assert (await h.gateway.get("/purchase-orders", params={"offset": -1})).status_code == 422


@pytest.mark.parametrize("path", ["/supplier-health", "/admin/backlog"])
async def test_operations_reads_need_the_operations_role(harness_factory: Any, path: str) -> None:
    async with harness_factory() as h:
        assert (await h.gateway.get(path, headers=bearer("storefront"))).status_code == 403
        answer = await h.gateway.get(path, headers=bearer("operations"))
        assert answer.status_code == 200, answer.text
        if path == "/admin/backlog":
            assert answer.json()["dead_letters"] == 0 and answer.json()["queued_events"] >= 0
