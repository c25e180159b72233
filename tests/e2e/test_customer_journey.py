"""The customer's journey through a backorder, end to end, with every status, date, message and payment checked.

The orders service runs as a real process on RabbitMQ, driven through its API and by the aggregator's and
gateway's events (published here), with a real SMTP sink and a signed-webhook receiver. One order: a line in
stock, one shipped in two parts and delivered, one rejected by the supplier and one cancelled.
"""

from __future__ import annotations

import asyncio
import email
import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from email.message import Message
from typing import Any, TypeVar

import aio_pika
import httpx
import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI, Request, Response

from dropship_shared.events import (
    AcknowledgedLine,
    Address,
    BatchReleaseExpected,
    Envelope,
    LineCancellationResolved,
    Payload,
    PurchaseOrderAcknowledged,
    PurchaseOrderLine,
    PurchaseOrderRequested,
    ShipmentUpdated,
    ShippedLine,
    utcnow,
)
from dropship_shared.messaging import Broker
from dropship_shared.signing import verify
from e2e.conftest import SystemFactory
from support.infrastructure import BrokerNamespace
from support.servers import free_port, run_uvicorn_app
from support.tokens import bearer

T = TypeVar("T")
SECRET = "customer-hook-secret"
SHIP_TO = {
    "name": "Ann Lee",
    "address_lines": ["1 Main St"],
    "city": "Springfield",
    "postal_code": "62701",
    "country": "US",
}
CATALOG = [
    {
        "sku": "CHAIR",
        "name": "Chair",
        "supplier_id": "acme",
        "supplier_sku": "AC-1",
        "price": "100",
        "cost": "40",
        "on_hand": 2,
        "lead_time_days": 4,
    },
    {
        "sku": "TABLE",
        "name": "Table",
        "supplier_id": "globex",
        "supplier_sku": "GX-9",
        "price": "500",
        "cost": "210",
        "on_hand": 0,
        "lead_time_days": 10,
    },
    {
        "sku": "LAMP",
        "name": "Lamp",
        "supplier_id": "globex",
        "supplier_sku": "GX-L",
        "price": "50",
        "cost": "20",
        "on_hand": 0,
        "lead_time_days": 10,
    },
    {
        "sku": "RUG",
        "name": "Rug",
        "supplier_id": "globex",
        "supplier_sku": "GX-R",
        "price": "200",
        "cost": "90",
        "on_hand": 0,
        "lead_time_days": 10,
    },
]


class MailSink:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_sink() -> Iterator[tuple[MailSink, int]]:
    sink = MailSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[list[dict[str, Any]], str]]:
    received: list[dict[str, Any]] = []
    app = FastAPI()

    @app.post("/customer-messages")
    async def receive(request: Request) -> Response:
        body = await request.body()
        verify(SECRET, body, request.headers)
        received.append(json.loads(body))
        return Response(status_code=204)

    with run_uvicorn_app(app) as url:
        yield received, f"{url}/customer-messages"


async def eventually(probe: Callable[[], T], accept: Callable[[T], bool], timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if accept(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


def money(body: dict[str, Any], *fields: str) -> list[Decimal]:
    return [Decimal(body[field]) for field in fields]


async def test_customer_journey(
    make_system: SystemFactory,
    broker_namespace: BrokerNamespace,
    smtp_sink: tuple[MailSink, int],
    webhook_receiver: tuple[list[dict[str, Any]], str],
) -> None:
    sink, smtp_port = smtp_sink
    hooks, hook_url = webhook_receiver
    system = make_system(
        extra_env={
            "orders": {
                "NOTIFY_CHANNELS": "email,webhook",
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(smtp_port),
                "NOTIFY_WEBHOOK_URL": hook_url,
                "NOTIFY_WEBHOOK_SECRET": SECRET,
                "NOTIFY_POLL_SECONDS": "0.1",
                "TRANSIT_DAYS": "3",
                "DEFAULT_BATCH_WAIT_DAYS": "3",
                "QUICK_SHIP_DAYS": "3",
                "CONSOLATION_THRESHOLD_DAYS": "7",
            }
        }
    )
    system.start("orders")
    http = httpx.Client(base_url=system.url("orders"), timeout=10, headers=bearer())
    http.put("/products", json=CATALOG).raise_for_status()

    # What orders tells the aggregator: watch the exchange.
    connection = await aio_pika.connect(broker_namespace.amqp_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(broker_namespace.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    observed = await channel.declare_queue(broker_namespace.queue("observer"), durable=True)
    await observed.bind(exchange, routing_key="backorder.*")
    broker = Broker(broker_namespace.amqp_url, broker_namespace.exchange)
    await broker.connect()

    async def publish(payload: Payload) -> Envelope:
        envelope = Envelope.wrap(payload, "e2e-journey")
        await broker.publish(envelope)
        return envelope

    async def outgoing(count: int) -> list[Envelope]:
        seen: list[Envelope] = []
        deadline = time.monotonic() + 15
        while len(seen) < count and time.monotonic() < deadline:
            message = await observed.get(fail=False)
            if message is None:
                await asyncio.sleep(0.1)
                continue
            await message.ack()
            seen.append(Envelope.from_bytes(message.body))
        return seen

    def get_order() -> dict[str, Any]:
        return http.get(f"/orders/{order_id}").json()  # type: ignore[no-any-return]

    def payments() -> dict[str, Any]:
        return http.get(f"/orders/{order_id}/payments").json()  # type: ignore[no-any-return]

    def statuses(order: dict[str, Any]) -> list[str]:
        return [line["status"] for line in order["lines"]]

    def mails() -> list[str]:
        return [str(message["Subject"]) for message in sink.messages]

    today = utcnow().date()

    def in_days(days: int) -> str:
        return str(today + timedelta(days=days))

    try:
        # 1. The order: chairs from stock, a table, a lamp and a rug backordered from globex.
        placed = http.post(
            "/orders",
            json={
                "customer_email": "ann@example.com",
                "ship_to": SHIP_TO,
                "lines": [
                    {"sku": "CHAIR", "quantity": 2},
                    {"sku": "TABLE", "quantity": 3},
                    {"sku": "LAMP", "quantity": 1},
                    {"sku": "RUG", "quantity": 1},
                ],
            },
            headers={"Idempotency-Key": "journey-1"},
        )
        assert placed.status_code == 201
        order = placed.json()
        order_id = order["order_id"]
        assert order["status"] == "awaiting_supplier"
        assert statuses(order) == ["allocated", "backordered", "backordered", "backordered"]
        # Default batch wait 3 + lead time 10 + transit 3.
        assert [line["promised_date"] for line in order["lines"]] == [None, in_days(16), in_days(16), in_days(16)]
        assert money(payments(), "authorized", "captured", "released", "outstanding") == [1950, 200, 0, 1750]
        created = await outgoing(3)
        assert sorted((e.type, e.payload["backorder_line_id"]) for e in created) == [
            ("backorder.created", f"{order_id}-{n}") for n in (2, 3, 4)
        ]
        await eventually(mails, lambda subjects: len(subjects) >= 1)
        assert mails() == [f"Your order {order_id}: some items are on backorder"]
        assert f"3 x TABLE: expected delivery by {in_days(16)}" in sink.messages[0].get_payload()

        # 2. The aggregator expects globex's batch out in 6 days: the table is 3 days later; apology sent.
        line_ids = [f"{order_id}-{n}" for n in (2, 3, 4)]
        await publish(
            BatchReleaseExpected(
                supplier_id="globex", expected_release_at=utcnow() + timedelta(days=6), backorder_line_ids=line_ids[:1]
            )
        )
        order = await eventually(get_order, lambda o: o["lines"][1]["promised_date"] == in_days(19))
        assert (order["lines"][1]["promised_date"], order["lines"][1]["first_promised_date"]) == (
            in_days(19),
            in_days(16),
        )
        await eventually(mails, lambda subjects: len(subjects) >= 2)
        assert mails()[1] == f"Your order {order_id}: new delivery date {in_days(19)}"
        assert "We are sorry" in sink.messages[1].get_payload()

        # 3. The batch is released on PO1.
        ship_to = Address.model_validate(SHIP_TO)
        await publish(
            PurchaseOrderRequested(
                po_number="PO1",
                supplier_id="globex",
                currency="USD",
                release_reason="min_units",
                lines=[
                    PurchaseOrderLine(
                        line_no=n - 1,
                        backorder_line_id=f"{order_id}-{n}",
                        sku=sku,
                        supplier_sku=f"GX-{sku[0]}",
                        quantity=quantity,
                        unit_cost=Decimal("10"),
                        ship_to=ship_to,
                        customer_ref=f"{order_id}/{n}",
                    )
                    for n, sku, quantity in ((2, "TABLE", 3), (3, "LAMP", 1), (4, "RUG", 1))
                ],
            )
        )
        order = await eventually(get_order, lambda o: statuses(o)[1:] == ["on_purchase_order"] * 3)
        assert statuses(order) == ["allocated", "on_purchase_order", "on_purchase_order", "on_purchase_order"]
        assert {line["po_number"] for line in order["lines"][1:]} == {"PO1"}
        # Released today: a fact, not an estimate, so the dates come earlier (lead time 10 + transit 3), told.
        assert [line["promised_date"] for line in order["lines"][1:]] == [in_days(13)] * 3

        # 4. The customer cancels the rug: it is on a PO, so the supplier is asked (twice asked: once sent).
        for _ in range(2):
            response = http.post(f"/orders/{order_id}/lines/4/cancel")
            assert response.status_code == 200
            assert response.json()["lines"][3]["status"] == "cancel_requested"
        cancelled = await outgoing(1)
        assert [(e.type, e.payload["backorder_line_id"]) for e in cancelled] == [
            ("backorder.cancelled", f"{order_id}-4")
        ]
        assert await outgoing(1) == []

        # 5. The supplier accepts the table (ships in 2 days: earlier, good news) and rejects the lamp.
        await publish(
            PurchaseOrderAcknowledged(
                po_number="PO1",
                supplier_id="globex",
                status="partial",
                lines=[
                    AcknowledgedLine(
                        backorder_line_id=f"{order_id}-2",
                        line_no=1,
                        status="accepted",
                        quantity=3,
                        expected_ship_date=today + timedelta(days=2),
                    ),
                    AcknowledgedLine(
                        backorder_line_id=f"{order_id}-3",
                        line_no=2,
                        status="rejected",
                        quantity=1,
                        reason="discontinued",
                    ),
                ],
            )
        )
        order = await eventually(get_order, lambda o: statuses(o)[1:3] == ["acknowledged", "rejected"])
        assert statuses(order) == ["allocated", "acknowledged", "rejected", "cancel_requested"]
        assert order["lines"][1]["promised_date"] == in_days(5)
        assert (order["lines"][2]["rejected_qty"], order["lines"][2]["status_reason"]) == (1, "discontinued")
        assert money(payments(), "captured", "released", "outstanding") == [200, 50, 1700]

        # 6. The supplier confirms the rug's cancellation.
        await publish(
            LineCancellationResolved(
                po_number="PO1", supplier_id="globex", backorder_line_id=f"{order_id}-4", outcome="cancelled"
            )
        )
        order = await eventually(get_order, lambda o: statuses(o)[3] == "cancelled")
        assert order["lines"][3]["cancelled_qty"] == 1
        assert money(payments(), "captured", "released", "outstanding") == [200, 250, 1500]

        # 7. Two shipments of the table: one, then two (the second delivered twice by the broker).
        def shipment(shipment_id: str, quantity: int) -> ShipmentUpdated:
            return ShipmentUpdated(
                shipment_id=shipment_id,
                po_number="PO1",
                supplier_id="globex",
                shipped_at=utcnow(),
                carrier_name="UPS",
                tracking_number=f"1Z{shipment_id}",
                tracking_url=f"https://ups.example.com/track/1Z{shipment_id}",
                lines=[ShippedLine(backorder_line_id=f"{order_id}-2", line_no=1, quantity=quantity)],
            )

        await publish(shipment("S1", 1))
        order = await eventually(get_order, lambda o: statuses(o)[1] == "partially_shipped")
        assert order["status"] == "partially_shipped"
        assert (order["lines"][1]["shipped_qty"], order["lines"][1]["open_qty"]) == (1, 2)
        assert money(payments(), "captured", "released", "outstanding") == [700, 250, 1000]

        second = Envelope.wrap(shipment("S2", 2), "e2e-journey")
        await broker.publish(second)
        await broker.publish(second)
        order = await eventually(get_order, lambda o: statuses(o)[1] == "shipped")
        assert order["status"] == "fulfilled"
        assert [s["tracking_number"] for s in order["lines"][1]["shipments"]] == ["1ZS1", "1ZS2"]
        assert order["lines"][1]["promised_date"] == in_days(3)
        await asyncio.sleep(0.5)  # let the duplicate be consumed
        assert money(payments(), "captured", "released", "outstanding") == [1700, 250, 0]

        # 8. Delivered: the carrier confirms the table, the customer the chairs.
        assert http.post(f"/orders/{order_id}/lines/2/delivered", json={"source": "carrier"}).status_code == 200
        assert http.post(f"/orders/{order_id}/lines/1/delivered").status_code == 200
        order = get_order()
        assert order["status"] == "delivered"
        assert statuses(order) == ["delivered", "delivered", "rejected", "cancelled"]
        totals = payments()
        assert money(totals, "authorized", "captured", "released", "outstanding") == [1950, 1700, 250, 0]
        assert totals["reconciled"] is True

        # The audit trail and the date history of the table.
        table = http.get(f"/orders/{order_id}/history").json()["lines"][1]
        assert [(t["from_status"], t["to_status"]) for t in table["transitions"]] == [
            (None, "backordered"),
            ("backordered", "on_purchase_order"),
            ("on_purchase_order", "acknowledged"),
            ("acknowledged", "partially_shipped"),
            ("partially_shipped", "shipped"),
            ("shipped", "delivered"),
        ]
        assert table["transitions"][-1]["cause"] == "delivered:carrier"
        assert [(p["promised_date"], p["cause"]) for p in table["promises"]] == [
            (in_days(16), "order_placed"),
            (in_days(19), "batch.release_expected"),
            (in_days(13), "purchase_order.requested"),
            (in_days(5), "purchase_order.acknowledged"),
            (in_days(3), "shipment.updated"),
        ]

        # Every message once, by email and by signed webhook, and each marked sent: each date move told once
        # (the later one with an apology, the earlier ones as good news), the shipments with their date.
        expected = [
            f"Your order {order_id}: some items are on backorder",
            f"Your order {order_id}: new delivery date {in_days(19)}",
            *[f"Your order {order_id}: good news, now expected by {in_days(13)}"] * 3,
            f"Your order {order_id}: good news, now expected by {in_days(5)}",
            f"Your order {order_id}: LAMP cannot be supplied",
            f"Your order {order_id}: RUG cancelled",
            f"Your order {order_id} has shipped: 1 x TABLE",
            f"Your order {order_id} has shipped: 2 x TABLE",
        ]
        await eventually(mails, lambda subjects: len(subjects) >= len(expected))
        await asyncio.sleep(0.5)  # nothing more may come
        assert mails()[:2] == expected[:2]
        assert sorted(mails()) == sorted(expected)  # messages of one event may be sent in any order
        assert sorted(hook["subject"] for hook in hooks) == sorted(expected)
        by_subject = {str(message["Subject"]): message.get_payload() for message in sink.messages}
        shipped_mail = by_subject[f"Your order {order_id} has shipped: 1 x TABLE"]
        assert "Carrier: UPS" in shipped_mail and "https://ups.example.com/track/1ZS1" in shipped_mail
        assert "released" in by_subject[f"Your order {order_id}: LAMP cannot be supplied"]
        assert "Good news" in by_subject[f"Your order {order_id}: good news, now expected by {in_days(5)}"]
        messages = http.get(f"/orders/{order_id}/messages").json()
        assert len(messages) == 2 * len(expected)
        assert all(m["sent_at"] for m in messages)

        # The figures the dashboard reads.
        figures = http.get("/metrics/backorders", params={"group_by": "sku"}).json()["groups"]
        by_sku = {g["group"]: g for g in figures}
        assert by_sku["CHAIR"]["backorder_rate"] == 0
        assert (by_sku["TABLE"]["backorder_rate"], by_sku["TABLE"]["filled_lines"]) == (1, 1)
        assert by_sku["TABLE"]["fill_time_hours_p50"] is not None
        assert by_sku["RUG"]["cancelled_while_waiting"] == 1
        # It ends earlier than first promised, but the customer was told a later date once: that slip counts.
        assert (by_sku["TABLE"]["slipped_promises"], by_sku["TABLE"]["slip_days_p50"]) == (1, 3)
        assert by_sku["TABLE"]["credits_issued"] == 0
    finally:
        http.close()
        await broker.close()
        await connection.close()
