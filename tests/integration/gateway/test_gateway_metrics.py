"""The figures operations alert on move on the gateway's `/metrics` when the thing happens: a supplier goes down
(call errors by kind, its circuit opens, its PO waits and ages) and comes back; a supplier refuses a PO (a
failed PO, an open exception, until resolved); an event nobody can read (a dead letter, counted and waiting);
a consumer stuck behind the database (its queue grows, then drains)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from test_gateway_http_flow import (  # the gateway + simulator harness
    fast_settings,
    harness_factory,
    observer,
    purchase_order,
    serve_gateway,
    wait_ready,
)

from dropship_shared.events import Envelope
from supplier_gateway.config import GatewaySettings
from support.infrastructure import BrokerNamespace
from support.metrics import Scrape, scrape, scraped_until
from support.tokens import bearer

__all__ = ["harness_factory", "observer"]  # fixtures used here


@pytest.fixture
def gateway_settings(
    request: pytest.FixtureRequest, postgres_url: str, broker_namespace: BrokerNamespace
) -> Iterator[GatewaySettings]:
    """The harness's gateway on PostgreSQL (a test holds a lock on its tables); `@pytest.mark.gateway(...)`."""
    broker_namespace.queue("supplier-gateway")
    marker = request.node.get_closest_marker("gateway")
    yield fast_settings(postgres_url, broker_namespace, **(marker.kwargs if marker else {}))


def errors(s: Scrape, kind: str, operation: str = "place") -> float:
    return s.total("supplier_call_errors_total", supplier_id="acme", operation=operation, kind=kind)


@pytest.mark.gateway(circuit_reset_seconds=600)  # the circuit stays open until an operator sends now
async def test_a_down_supplier_counts_errors_opens_its_circuit_and_its_po_waits(harness_factory: Any) -> None:
    async with harness_factory(auto_ship_after_seconds=-1) as h:
        before = await scrape(h.gateway)
        await h.supplier.post("/admin/faults", json={"fail_next": 10_000, "status": 503})
        await h.request(purchase_order("PO-M1", 1))

        down = await scraped_until(
            h.gateway,
            lambda s: (
                s.value("supplier_circuit_state", supplier_id="acme") == 2
                and errors(s, "circuit_open") > errors(before, "circuit_open")
            ),
        )
        assert errors(down, "server_error") >= errors(before, "server_error") + 5  # the breaker's threshold
        placements = {"supplier_id": "acme", "operation": "place"}
        attempts = down.total("supplier_call_duration_seconds_count", **placements)
        assert attempts >= before.total("supplier_call_duration_seconds_count", **placements) + 5
        assert down.value("purchase_orders", supplier_id="acme", state="requested") == 1
        waiting = await scraped_until(
            h.gateway, lambda s: (s.value("purchase_orders_oldest_requested_age_seconds", supplier_id="acme") or 0) > 0
        )
        assert waiting.value("metrics_source_up", source="purchase_orders") == 1

        await h.supplier.delete("/admin/faults")
        sent = await h.gateway.post("/suppliers/acme/send-now", headers={**bearer(), "X-On-Behalf-Of": "alice"})
        assert sent.status_code == 200
        back = await scraped_until(
            h.gateway,
            lambda s: (
                s.value("purchase_orders", supplier_id="acme", state="requested") is None
                and (s.value("purchase_orders", supplier_id="acme", state="sent") or 0)
                + (s.value("purchase_orders", supplier_id="acme", state="acknowledged") or 0)
                == 1
            ),
        )
        assert back.value("supplier_circuit_state", supplier_id="acme") == 0
        assert back.value("purchase_orders_oldest_requested_age_seconds", supplier_id="acme") is None


async def test_a_refused_po_is_a_failed_po_and_an_open_exception_until_resolved(harness_factory: Any) -> None:
    async with harness_factory() as h:
        before = await scrape(h.gateway)
        assert before.value("supplier_exceptions_open", kind="purchase_order_refused") == 0
        assert before.value("supplier_exceptions_oldest_open_age_seconds") == 0
        await h.supplier.post("/admin/faults", json={"reject_next": 1, "reject_reason": "account on stop"})
        await h.request(purchase_order("PO-M2", 1))
        await h.wait_for_state("PO-M2", "failed")

        refused = await scrape(h.gateway)
        assert refused.value("purchase_orders", supplier_id="acme", state="failed") == 1
        assert refused.value("supplier_exceptions_open", kind="purchase_order_refused") == 1
        assert errors(refused, "refused") == errors(before, "refused") + 1
        assert errors(refused, "server_error") == errors(before, "server_error")
        assert refused.value("supplier_circuit_state", supplier_id="acme") == 0  # it answered: it is up

        [filed] = (await h.gateway.get("/exceptions", params={"open": True})).json()
        resolved = await h.gateway.post(f"/exceptions/{filed['exception_id']}/resolve", json={"note": "paid"})
        assert resolved.status_code == 200
        after = await scrape(h.gateway)
        assert after.value("supplier_exceptions_open", kind="purchase_order_refused") == 0
        assert after.value("supplier_exceptions_oldest_open_age_seconds") == 0


async def test_an_unreadable_event_is_a_dead_letter_counted_waiting_and_filed(
    harness_factory: Any, gateway_settings: GatewaySettings
) -> None:
    queue = gateway_settings.queue_name("supplier-gateway")
    async with harness_factory() as h:
        before = await scrape(h.gateway)
        assert before.value("dead_letter_queue_depth", queue=queue) == 0
        poison = Envelope(type="purchase_order.requested", correlation_id="poison", payload={"po_number": "PO-DL"})
        await h.broker.publish(poison)

        dead = await scraped_until(h.gateway, lambda s: s.value("supplier_exceptions_open", kind="dead_letter") == 1)
        assert dead.value("dead_letter_queue_depth", queue=queue) == 1
        assert (
            dead.total("events_dead_lettered_total", queue=queue, reason="malformed")
            == before.total("events_dead_lettered_total", queue=queue, reason="malformed") + 1
        )
        assert dead.value("metrics_source_up", source="broker") == 1


@pytest.mark.gateway(prefetch=1)
async def test_a_consumer_stuck_behind_the_database_shows_as_queue_depth_then_drains(
    harness_factory: Any, gateway_settings: GatewaySettings, postgres_url: str
) -> None:
    queue = gateway_settings.queue_name("supplier-gateway")
    async with harness_factory() as h:
        assert (await scrape(h.gateway)).value("consumer_queue_depth", queue=queue) == 0
        holder = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            lock = holder.transaction()
            await lock.start()
            await holder.execute("LOCK TABLE inbox IN ACCESS EXCLUSIVE MODE")  # every handler waits on it
            for number in range(30):
                await h.request(purchase_order(f"PO-Q{number}", 1))
            stuck = await scraped_until(h.gateway, lambda s: (s.value("consumer_queue_depth", queue=queue) or 0) >= 25)
            assert stuck.value("metrics_source_up", source="outbox") == 1  # the outbox is read beside the lock
            await lock.commit()
        finally:
            await holder.close()
        await scraped_until(h.gateway, lambda s: s.value("consumer_queue_depth", queue=queue) == 0)
        for number in range(30):
            await h.wait_for_state(f"PO-Q{number}", "shipped")
        drained = await scraped_until(h.gateway, lambda s: s.value("outbox_pending") == 0)
        assert drained.value("outbox_oldest_pending_age_seconds") == 0


async def test_two_replicas_report_the_same_database_figures_so_max_over_replicas_is_the_truth(
    harness_factory: Any, gateway_settings: GatewaySettings
) -> None:
    second = gateway_settings.model_copy(update={"instance_id": "gateway-second"})
    async with harness_factory() as h:
        with serve_gateway(second) as second_url:
            async with httpx.AsyncClient(base_url=second_url, timeout=10) as other:
                await wait_ready(other)
                await h.request(purchase_order("PO-R1", 1, supplier_id="ghost"))  # one replica handles it
                await h.wait_for_state("PO-R1", "failed")
                both = [await scrape(replica) for replica in (h.gateway, other)]
        for scraped in both:  # each replica reads the same rows: 1 failed PO, 1 open exception, not 1 each
            assert scraped.value("purchase_orders", supplier_id="ghost", state="failed") == 1
            assert scraped.value("supplier_exceptions_open", kind="supplier_not_registered") == 1
