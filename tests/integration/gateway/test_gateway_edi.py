"""The X12 path end to end: an 850 per PO to the supplier's EDI endpoint (control numbers from the partner
counter), their 855/856 applied once with a 997 back, malformed input refused with a negative 997, and their
997 marking our 850 accepted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import aio_pika
import httpx
import pytest
from fastapi import FastAPI, Request, Response

from dropship_shared.events import Address, Envelope, PurchaseOrderLine, PurchaseOrderRequested
from dropship_shared.messaging import Broker
from dropship_shared.signing import sign, verify
from dropship_x12.ack855 import AckLine, PurchaseOrderAcknowledgement, build_855
from dropship_x12.asn856 import Carrier, Package, ShipNotice, ShippedItem, build_856
from dropship_x12.fa997 import build_997_document, parse_997
from dropship_x12.model import TransactionSet
from dropship_x12.po850 import parse_850
from dropship_x12.reader import read_interchange
from dropship_x12.writer import Partners, envelope, serialize_interchange
from supplier_gateway.bootstrap import create_app
from supplier_gateway.config import GatewaySettings
from support.infrastructure import BrokerNamespace
from support.servers import consuming, run_uvicorn_app
from support.tokens import bearer

SECRET = "edi-signing-secret-0123456789"
SUPPLIER = Partners("ZZ", "EDISUPPLIER", "ZZ", "DROPSHIPBUYER", "EDISUPGS", "DROPSHIPBUYER")
ADDRESS = Address(name="Ann", address_lines=["1 Main St"], city="Springfield", postal_code="12345", country="US")


def requested(po_number: str) -> PurchaseOrderRequested:
    return PurchaseOrderRequested(
        po_number=po_number,
        supplier_id="edi",
        currency="USD",
        release_reason="minimum_reached",
        lines=[
            PurchaseOrderLine(
                line_no=n,
                backorder_line_id=f"O{po_number}{n}-1",
                sku=f"SKU-{n}",
                supplier_sku=f"V-{n}",
                quantity=n + 1,
                unit_cost=Decimal("4.25"),
                ship_to=ADDRESS,
                customer_ref=f"O{n}/1",
            )
            for n in (1, 2)
        ],
    )


@dataclass
class EdiSupplierDouble:
    """The supplier's EDI inbox: keeps every interchange we POST (after checking our signature)."""

    received: list[str] = field(default_factory=list)
    acknowledgements: list[str] = field(default_factory=list)  # our 997s, when it takes them apart
    fail_next: int = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/inbox")
        async def inbox(request: Request) -> Response:
            raw = await request.body()
            verify(SECRET, raw, request.headers)
            if self.fail_next:
                self.fail_next -= 1
                return Response(status_code=503)
            self.received.append(raw.decode())
            return Response(status_code=202)

        @app.post("/acks")
        async def acks(request: Request) -> Response:
            raw = await request.body()
            verify(SECRET, raw, request.headers)
            if self.fail_next:
                self.fail_next -= 1
                return Response(status_code=503)
            self.acknowledgements.append(raw.decode())
            return Response(status_code=202)

        return app


def interchange(transactions: list[TransactionSet], functional_id: str, number: int) -> str:
    return serialize_interchange(
        envelope(
            transactions,
            partners=SUPPLIER,
            functional_id=functional_id,
            interchange_control_number=number,
            group_control_number=number,
            prepared_at=datetime.now(UTC),
        )
    )


def ack_855(po_number: str, number: int) -> str:
    ack = PurchaseOrderAcknowledgement(
        po_number=po_number,
        ack_type="AC",
        ack_date=date(2026, 11, 27),
        lines=(
            AckLine(1, "IA", Decimal(2), Decimal(2)),
            AckLine(2, "IB", Decimal(3), Decimal(3), date(2026, 12, 24)),
        ),
    )
    return interchange([build_855(ack, 1)], "PR", number)


def asn_856(po_number: str, number: int, quantity: int = 2) -> str:
    notice = ShipNotice(
        shipment_id=f"ASN-{po_number}",
        po_number=po_number,
        shipped_date=date(2026, 11, 28),
        carrier=Carrier(scac="UPSN", name="UPS"),
        packages=(Package((ShippedItem(1, Decimal(quantity), (("BP", "SKU-1"), ("VP", "V-1"))),), (), "1ZEDI1"),),
    )
    return interchange([build_856([notice], 1, datetime.now(UTC))], "SH", number)


@dataclass
class EdiHarness:
    gateway: httpx.AsyncClient
    double: EdiSupplierDouble
    broker: Broker
    events: list[Envelope]
    double_url: str

    async def post(self, document: str, secret: str = SECRET) -> httpx.Response:
        raw = document.encode()
        return await self.gateway.post("/suppliers/edi/edi", content=raw, headers=sign(secret, raw))

    async def wait(self, check: Any, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.05)
        raise AssertionError("condition not reached")

    def of(self, event_type: str, po_number: str) -> list[Envelope]:
        return [e for e in self.events if e.type == event_type and e.payload.get("po_number") == po_number]

    async def po(self, po_number: str) -> dict[str, Any]:
        body: dict[str, Any] = (await self.gateway.get(f"/purchase-orders/{po_number}")).json()
        return body


@pytest.fixture
async def edi(database_url: str, broker_namespace: BrokerNamespace) -> AsyncIterator[EdiHarness]:
    events: list[Envelope] = []
    connection = await aio_pika.connect(broker_namespace.amqp_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(broker_namespace.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(broker_namespace.queue("edi-observer"), auto_delete=True)
    for key in ("purchase_order.*", "shipment.*"):
        await queue.bind(exchange, routing_key=key)

    async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            events.append(Envelope.model_validate_json(message.body))

    await queue.consume(collect)
    broker_namespace.queue("supplier-gateway")
    settings = GatewaySettings(
        database_url=database_url,
        amqp_url=broker_namespace.amqp_url,
        exchange=broker_namespace.exchange,
        queue_prefix=f"{broker_namespace.prefix}.",
        log_json=False,
        log_level="WARNING",
        outbox_poll_seconds=0.05,
        dispatch_interval_seconds=0.1,
        dispatch_retry_base_seconds=0.2,
        x12_acknowledgement_interval_seconds=0.1,
        x12_acknowledgement_retry_seconds=0.2,
        supplier_backoff_base_seconds=0.02,
        supplier_backoff_max_seconds=0.1,
    )
    double = EdiSupplierDouble()
    with (
        run_uvicorn_app(double.app()) as double_url,
        run_uvicorn_app(create_app(settings), startup_timeout=30) as gateway_url,
    ):
        broker = Broker(broker_namespace.amqp_url, broker_namespace.exchange)
        await broker.connect()
        async with httpx.AsyncClient(base_url=gateway_url, timeout=10, headers=bearer()) as gateway:
            harness = EdiHarness(gateway, double, broker, events, double_url)
            await harness.wait(lambda: _ready(gateway))
            registered = await gateway.put(
                "/suppliers/edi",
                json={
                    "protocol": "x12",
                    "base_url": f"{double_url}/inbox",
                    "signing_secret": SECRET,
                    "x12": {"isa_qualifier": "ZZ", "isa_id": "EDISUPPLIER", "gs_id": "EDISUPGS"},
                },
            )
            assert registered.status_code == 200, registered.text
            try:
                yield harness
            finally:
                await broker.close()
    await connection.close()


async def _ready(gateway: httpx.AsyncClient) -> bool:
    return consuming(await gateway.get("/readyz"))


async def test_each_po_goes_out_as_one_850_with_its_own_control_number(edi: EdiHarness) -> None:
    edi.double.fail_next = 2  # the EDI endpoint stumbles: the same interchange is sent again
    await edi.broker.publish(Envelope.wrap(requested("PO-E1"), "edi-1"))
    await edi.wait(lambda: _state(edi, "PO-E1", "sent"))
    await edi.broker.publish(Envelope.wrap(requested("PO-E2"), "edi-2"))
    await edi.wait(lambda: _state(edi, "PO-E2", "sent"))

    assert len(edi.double.received) == 2
    first, second = (read_interchange(text) for text in edi.double.received)
    assert (first.control_number, second.control_number) == ("000000001", "000000002")
    assert (first.sender_id.strip(), first.receiver_id.strip()) == ("DROPSHIPBUYER", "EDISUPPLIER")
    po = parse_850(first.groups[0].transactions[0])
    assert po.po_number == "PO-E1"
    assert [(line.line_no, line.quantity, line.buyer_part_number, line.vendor_part_number) for line in po.lines] == [
        (1, 2, "SKU-1", "V-1"),
        (2, 3, "SKU-2", "V-2"),
    ]
    assert po.lines[0].ship_to is not None and po.lines[0].ship_to.postal_code == "12345"
    await edi.wait(lambda: _seen(edi, "purchase_order.placed", "PO-E1"))

    # their 997 for our 850 marks our interchange accepted
    our_850 = read_interchange(edi.double.received[0])
    their_997 = build_997_document(
        our_850,
        supported_sets=None,
        interchange_control_number=50,
        group_control_number=50,
        first_set_control_number=1,
        prepared_at=datetime.now(UTC),
    )
    assert their_997 is not None
    answer = await edi.post(their_997)
    assert answer.status_code == 200
    assert answer.text == ""  # a 997 is never acknowledged
    listed = (await edi.gateway.get("/suppliers/edi/edi/interchanges")).json()
    outbound = {i["po_number"]: i["status"] for i in listed if i["direction"] == "outbound"}
    assert outbound == {"PO-E1": "accepted", "PO-E2": "sent"}

    # their translator refuses our second 850: the PO fails, and an operator's retry sends a new interchange
    refusal = build_997_document(
        read_interchange(edi.double.received[1]),
        supported_sets={"855"},
        interchange_control_number=51,
        group_control_number=51,
        first_set_control_number=1,
        prepared_at=datetime.now(UTC),
    )
    assert refusal is not None
    assert (await edi.post(refusal)).status_code == 200
    (failed,) = await edi.wait(lambda: _seen(edi, "purchase_order.failed", "PO-E2"))
    assert "997" in failed.payload["reason"]
    assert (await edi.po("PO-E2"))["state"] == "failed"
    assert (await edi.gateway.post("/purchase-orders/PO-E2/retry")).status_code == 200
    await edi.wait(lambda: _state(edi, "PO-E2", "sent"))
    resent = read_interchange(edi.double.received[2])
    assert parse_850(resent.groups[0].transactions[0]).po_number == "PO-E2"
    assert int(resent.control_number) > int(second.control_number)


async def test_855_and_856_are_applied_once_and_answered_with_a_997(edi: EdiHarness) -> None:
    await edi.broker.publish(Envelope.wrap(requested("PO-E3"), "edi-3"))
    await edi.wait(lambda: _state(edi, "PO-E3", "sent"))

    ack = ack_855("PO-E3", 7001)
    answer = await edi.post(ack)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Interchange-Status"] == "000007001=accepted"
    reply = read_interchange(answer.text)
    assert (reply.sender_id.strip(), reply.receiver_id.strip()) == ("DROPSHIPBUYER", "EDISUPPLIER")
    functional_ack = parse_997(reply.groups[0].transactions[0])
    assert functional_ack.accepted and functional_ack.functional_id == "PR"
    (acknowledged,) = await edi.wait(lambda: _seen(edi, "purchase_order.acknowledged", "PO-E3"))
    assert [
        (line["line_no"], line["status"], line["expected_ship_date"]) for line in acknowledged.payload["lines"]
    ] == [
        (1, "accepted", None),
        (2, "backordered", "2026-12-24"),
    ]

    again = await edi.post(ack)  # the same interchange again: recognised, same 997, not applied twice
    assert again.headers["X-Interchange-Status"] == "000007001=duplicate"
    assert again.text == answer.text

    shipped = await edi.post(asn_856("PO-E3", 7002))
    assert shipped.headers["X-Interchange-Status"] == "000007002=accepted"
    (update,) = await edi.wait(lambda: _seen(edi, "shipment.updated", "PO-E3"))
    assert update.payload["tracking_number"] == "1ZEDI1"
    assert update.payload["carrier_scac"] == "UPSN"
    assert update.payload["lines"] == [{"backorder_line_id": "OPO-E31-1", "line_no": 1, "quantity": 2}]
    await asyncio.sleep(0.3)
    assert len(edi.of("purchase_order.acknowledged", "PO-E3")) == 1
    assert len(edi.of("shipment.updated", "PO-E3")) == 1
    po = await edi.po("PO-E3")
    assert po["state"] == "partially_shipped"
    assert [line["status"] for line in po["lines"]] == ["shipped", "backordered"]


async def test_malformed_or_refused_interchanges_get_a_negative_997_and_change_nothing(edi: EdiHarness) -> None:
    await edi.broker.publish(Envelope.wrap(requested("PO-E4"), "edi-4"))
    await edi.wait(lambda: _state(edi, "PO-E4", "sent"))

    wrong_count = ack_855("PO-E4", 8001).replace("SE*8*0001", "SE*9*0001")
    assert wrong_count != ack_855("PO-E4", 8001)
    answer = await edi.post(wrong_count)
    assert answer.status_code == 200
    assert answer.headers["X-Interchange-Status"] == "000008001=rejected"
    rejected = parse_997(read_interchange(answer.text).groups[0].transactions[0])
    assert rejected.status == "R" and rejected.sets[0].error_codes == ("4",)

    truncated = ack_855("PO-E4", 8002)
    truncated = truncated[: truncated.index("GE*")]
    answer = await edi.post(truncated)
    assert answer.headers["X-Interchange-Status"] == "000008002=rejected"
    assert parse_997(read_interchange(answer.text).groups[0].transactions[0]).status == "R"

    # well-formed sets we cannot apply: accepted in the 997 (syntax), not applied, listed as unapplied
    unknown_po = await edi.post(ack_855("PO-NOPE", 8003))
    assert unknown_po.headers["X-Interchange-Status"] == "000008003=accepted"
    assert unknown_po.headers["X-Unapplied-Sets"] == "000008003/855 0001"
    assert parse_997(read_interchange(unknown_po.text).groups[0].transactions[0]).status == "A"
    too_many = await edi.post(asn_856("PO-E4", 8004, quantity=50))
    assert too_many.headers["X-Interchange-Status"] == "000008004=accepted"
    assert too_many.headers["X-Unapplied-Sets"] == "000008004/856 0001"
    # ...and each filed in the exceptions inbox with the set as it came, once (a resend is a duplicate)
    assert (await edi.post(ack_855("PO-NOPE", 8003))).headers["X-Interchange-Status"] == "000008003=duplicate"
    filed = (await edi.gateway.get("/exceptions", params={"supplier_id": "edi"})).json()
    by_kind = {e["kind"]: e for e in filed}
    assert sorted(e["kind"] for e in filed) == ["over_shipment", "unknown_purchase_order"]
    assert by_kind["unknown_purchase_order"]["po_number"] == "PO-NOPE"
    assert by_kind["unknown_purchase_order"]["received"].startswith("ST*855*0001\nBAK*00*AC*PO-NOPE*")
    assert (by_kind["over_shipment"]["po_number"], by_kind["over_shipment"]["line_no"]) == ("PO-E4", 1)
    assert "SN1**50*EA" in by_kind["over_shipment"]["received"]

    garbage = await edi.post("this is not X12")
    assert garbage.status_code == 422
    bad_signature = await edi.post(ack_855("PO-E4", 8005), secret="some-other-secret")
    assert bad_signature.status_code == 401
    foreign = ack_855("PO-E4", 8006).replace("EDISUPPLIER    ", "SOMEONEELSE    ", 1)
    assert (await edi.post(foreign)).status_code == 422

    await asyncio.sleep(0.3)
    assert edi.of("purchase_order.acknowledged", "PO-E4") == []
    assert edi.of("shipment.updated", "PO-E4") == []
    po = await edi.po("PO-E4")
    assert po["state"] == "sent"
    assert all(line["shipped_qty"] == 0 for line in po["lines"])

    # the partner fixes the count and sends the same ISA13 again: now it is applied
    fixed = await edi.post(ack_855("PO-E4", 8001))
    assert fixed.headers["X-Interchange-Status"] == "000008001=accepted"
    await edi.wait(lambda: _seen(edi, "purchase_order.acknowledged", "PO-E4"))


async def _state(edi: EdiHarness, po_number: str, state: str) -> bool:
    response = await edi.gateway.get(f"/purchase-orders/{po_number}")
    return response.status_code == 200 and response.json()["state"] == state


async def _seen(edi: EdiHarness, event_type: str, po_number: str) -> list[Envelope]:
    return edi.of(event_type, po_number)


async def test_a_partner_with_an_acknowledgement_endpoint_gets_our_997_there_once(edi: EdiHarness) -> None:
    registered = await edi.gateway.put(
        "/suppliers/edi",
        json={
            "protocol": "x12",
            "base_url": f"{edi.double_url}/inbox",
            "signing_secret": SECRET,
            "x12": {
                "isa_qualifier": "ZZ",
                "isa_id": "EDISUPPLIER",
                "gs_id": "EDISUPGS",
                "acknowledgement_url": f"{edi.double_url}/acks",
            },
        },
    )
    assert registered.status_code == 200 and registered.json()["x12"]["acknowledgement_url"].endswith("/acks")
    await edi.broker.publish(Envelope.wrap(requested("PO-E9"), "edi-9"))
    await edi.wait(lambda: _state(edi, "PO-E9", "sent"))
    edi.double.fail_next = 1  # the partner's endpoint is away once: sent again later
    answer = await edi.post(ack_855("PO-E9", 9001))
    assert answer.status_code == 200 and answer.text == ""  # not in the answer: at the partner's endpoint
    assert answer.headers["X-Interchange-Status"] == "000009001=accepted"

    async def delivered() -> bool:
        return len(edi.double.acknowledgements) == 1

    await edi.wait(delivered)
    (document,) = edi.double.acknowledgements
    ack = parse_997(read_interchange(document).groups[0].transactions[0])
    assert ack.accepted and ack.group_control_number == "9001"
    again = await edi.post(ack_855("PO-E9", 9001))  # the same interchange again: a duplicate, no second 997
    assert again.headers["X-Interchange-Status"] == "000009001=duplicate" and again.text == ""
    stored = (await edi.gateway.get("/suppliers/edi/edi/interchanges")).json()
    assert [i["reply_delivery"] for i in stored if i["control_number"] == "000009001"] == ["sent"]
    assert len(edi.double.acknowledgements) == 1
