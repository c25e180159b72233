"""The gateway against a supplier double written from the protocol document, through a fault matrix: each
way a real API refuses a PO or answers a cancel request ends as the outcome table says. One supplier id per
case on one gateway (SQLite and PostgreSQL), driven by purchase_order.requested / cancel_requested events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import httpx

from dropship_shared.events import (
    Address,
    Envelope,
    PurchaseOrderCancelRequested,
    PurchaseOrderLine,
    PurchaseOrderRequested,
)
from dropship_shared.messaging import Broker
from supplier_gateway.bootstrap import create_app
from supplier_gateway.config import GatewaySettings
from support.adversarial_supplier import (
    CANCEL_ACCEPTED,
    CANCEL_REFUSALS,
    CANCEL_UNREADABLE,
    ERRORS_LIST,
    PROBLEM_DETAILS,
    TEXT_REFUSAL,
    AdversarialSupplier,
    Answer,
    serve_adversarial_supplier,
)
from support.infrastructure import BrokerNamespace
from support.servers import consuming, run_uvicorn_app
from support.tokens import bearer

T = TypeVar("T")
SECRET = "adversarial-secret-0123456789"
ADDRESS = Address(name="Ann", address_lines=["1 Main St"], city="Springfield", postal_code="12345", country="US")

PLACEMENT_MATRIX: dict[str, tuple[list[Answer], str | None]] = {
    # case: (answers before the default acceptance, the failure reason kept; None: placed)
    "problem+json detail": ([PROBLEM_DETAILS], "Item GX-9 was discontinued on 2026-10-01"),
    "errors[] objects": ([ERRORS_LIST], "exceeds the order limit of 50"),
    "text/plain body": ([TEXT_REFUSAL], "Account on credit hold - call accounts receivable"),
    "oauth-style error": (
        [Answer(401, {"error": "invalid_client", "error_description": "API key revoked"})],
        "API key revoked",
    ),
    "empty 404": ([Answer(404)], "HTTP 404 with no reason given"),
    "503 then taken": ([Answer(503, text="busy"), Answer(503, {"message": "maintenance"})], None),
    "429 Retry-After then taken": ([Answer(429, {"message": "slow down"})], None),
}
CANCEL_MATRIX: dict[str, tuple[Answer, str]] = {
    # case: (the supplier's answer, the outcome)
    **{wording: (answer, "refused") for wording, answer in CANCEL_REFUSALS.items()},
    "200 cancelled": (CANCEL_ACCEPTED, "cancelled"),
    "204 no body": (Answer(204), "cancelled"),
}
CANCEL_REASONS = {
    "409 already shipped": "already shipped",
    "422 Order has shipped": "Order has shipped",
    "200 declined": "declined",
    "400 text": "Too late to cancel: in transit",
}


@dataclass
class Rig:
    gateway: httpx.AsyncClient
    double: AdversarialSupplier
    double_url: str
    broker: Broker

    async def register(self, supplier_id: str) -> None:
        body = {"protocol": "http", "base_url": f"{self.double_url}/{supplier_id}", "signing_secret": SECRET}
        (await self.gateway.put(f"/suppliers/{supplier_id}", json=body)).raise_for_status()

    async def request_po(self, po_number: str, supplier_id: str) -> None:
        line = PurchaseOrderLine(
            line_no=1,
            backorder_line_id=f"O{po_number}-1",
            sku="SKU-1",
            supplier_sku="GX-9",
            quantity=2,
            unit_cost=Decimal("2.50"),
            ship_to=ADDRESS,
            customer_ref=f"O{po_number}/1",
        )
        requested = PurchaseOrderRequested(
            po_number=po_number, supplier_id=supplier_id, currency="USD", release_reason="test", lines=[line]
        )
        await self.broker.publish(Envelope.wrap(requested, f"test-{po_number}"))

    async def cancel(self, po_number: str, supplier_id: str) -> None:
        cancel = PurchaseOrderCancelRequested(
            po_number=po_number, supplier_id=supplier_id, backorder_line_id=f"O{po_number}-1", line_no=1, quantity=2
        )
        await self.broker.publish(Envelope.wrap(cancel, f"cancel-{po_number}"))

    async def po(self, po_number: str) -> dict[str, Any]:
        response = await self.gateway.get(f"/purchase-orders/{po_number}")
        return dict(response.json()) if response.status_code == 200 else {}

    async def exceptions(self, **filters: Any) -> list[dict[str, Any]]:
        return list((await self.gateway.get("/exceptions", params=filters)).json())


async def eventually(read: Callable[[], Any], condition: Callable[[T], bool], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if condition(value) or time.monotonic() > deadline:
            assert condition(value), value
            return value  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)


@asynccontextmanager
async def rig(database_url: str, namespace: BrokerNamespace) -> AsyncIterator[Rig]:
    namespace.queue("supplier-gateway")
    settings = GatewaySettings(
        database_url=database_url,
        amqp_url=namespace.amqp_url,
        exchange=namespace.exchange,
        queue_prefix=f"{namespace.prefix}.",
        log_json=False,
        log_level="WARNING",
        outbox_poll_seconds=0.05,
        dispatch_interval_seconds=0.1,
        dispatch_retry_base_seconds=0.2,
        dispatch_retry_max_seconds=1.0,
        supplier_backoff_base_seconds=0.02,
        supplier_backoff_max_seconds=0.1,
        supplier_retry_after_cap_seconds=0.2,
        cancellation_interval_seconds=0.1,
    )
    with (
        run_uvicorn_app(create_app(settings), startup_timeout=30) as gateway_url,
        serve_adversarial_supplier(SECRET) as (double, double_url),
    ):
        broker = Broker(namespace.amqp_url, namespace.exchange)
        await broker.connect()
        try:
            async with httpx.AsyncClient(base_url=gateway_url, timeout=10, headers=bearer()) as gateway:
                await eventually(lambda: gateway.get("/readyz"), consuming)
                yield Rig(gateway, double, double_url, broker)
        finally:
            await broker.close()


async def test_each_way_of_refusing_a_po_keeps_the_suppliers_words(
    database_url: str, broker_namespace: BrokerNamespace
) -> None:
    async with rig(database_url, broker_namespace) as r:
        cases = {f"p{number}": case for number, case in enumerate(PLACEMENT_MATRIX)}
        for supplier_id, case in cases.items():
            r.double.script(supplier_id).placements.extend(PLACEMENT_MATRIX[case][0])
            await r.register(supplier_id)
            await r.request_po(f"PO-{supplier_id}", supplier_id)
        for supplier_id, case in cases.items():
            answers, reason = PLACEMENT_MATRIX[case]
            po = await eventually(
                lambda s=supplier_id: r.po(f"PO-{s}"), lambda po: po.get("state") in ("failed", "sent")
            )
            script = r.double.script(supplier_id)
            if reason is None:
                assert po["state"] == "sent", case
                assert list(script.received) == [f"PO-{supplier_id}"], case  # taken once
                assert script.placement_calls == len(answers) + 1, case
            else:
                assert (po["state"], po["failure_reason"]) == ("failed", reason), case
                assert script.placement_calls == 1, case  # a refusal is not retried
                (filed,) = await r.exceptions(po_number=f"PO-{supplier_id}")
                assert filed["kind"] == "purchase_order_refused", case


async def test_only_an_explicit_acceptance_cancels_whatever_the_wording(
    database_url: str, broker_namespace: BrokerNamespace
) -> None:
    async with rig(database_url, broker_namespace) as r:
        cases = {f"c{number}": case for number, case in enumerate([*CANCEL_MATRIX, "unreadable"])}
        for supplier_id, case in cases.items():
            script = r.double.script(supplier_id)
            script.cancel_default = CANCEL_UNREADABLE if case == "unreadable" else CANCEL_MATRIX[case][0]
            await r.register(supplier_id)
            await r.request_po(f"PO-{supplier_id}", supplier_id)
            await eventually(lambda s=supplier_id: r.po(f"PO-{s}"), lambda po: po.get("state") == "sent")
            await r.cancel(f"PO-{supplier_id}", supplier_id)
        for supplier_id, case in cases.items():
            po_number = f"PO-{supplier_id}"
            if case == "unreadable":
                # asked again and again, never assumed either way; operations hear of it after three tries
                filed = await eventually(lambda p=po_number: r.exceptions(po_number=p), bool)
                assert [e["kind"] for e in filed] == ["cancel_unanswered"], case
                assert len(r.double.script(supplier_id).cancel_calls) >= 3
                assert (await r.po(po_number))["lines"][0]["status"] == "ordered"
                continue
            outcome = CANCEL_MATRIX[case][1]
            if outcome == "cancelled":
                await eventually(lambda p=po_number: r.po(p), lambda po: po["lines"][0]["status"] == "cancelled")
                assert await r.exceptions(po_number=po_number) == [], case
            else:
                filed = await eventually(lambda p=po_number: r.exceptions(po_number=p), bool)
                assert [(e["kind"], e["received"]) for e in filed] == [("cancel_refused", CANCEL_REASONS[case])], case
                assert (await r.po(po_number))["lines"][0]["status"] == "ordered", case
                assert len(r.double.script(supplier_id).cancel_calls) == 1, case  # a refusal is final
