"""Cancelling lines with an X12 supplier: our 860 goes out (built once, sent again unchanged while no answer
comes), their 865 on /edi resolves each waiting cancel request as an HTTP answer would; on both engines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

import pytest
from sqlalchemy import select
from test_gateway_edi import requested  # PO lines 1 and 2 (2 and 3 units), SKU-n / V-n, supplier "edi"

from dropship_shared.events import Envelope, PurchaseOrderCancelRequested
from dropship_x12 import (
    LineChangeAnswer,
    PurchaseOrderChangeAcknowledgement,
    build_865,
    parse_860,
    parse_997,
    read_interchange,
    serialize_segment,
)
from supplier_gateway.adapters.orm import line_cancellations, outbox
from supplier_gateway.domain.supplier import Supplier
from supplier_gateway.service_layer import handlers
from supplier_gateway.service_layer.cancellations import CancellationPolicy, LineCancellationResolver
from supplier_gateway.service_layer.edi_outbound import X12LineCancellation
from support.edi_gateway import EdiGateway, edi_gateway, interchange


@dataclass
class EdiInbox:
    """The supplier's EDI endpoint: keeps what we send."""

    documents: list[str] = field(default_factory=list)

    async def send(self, supplier: Supplier, document: str, url: str | None = None) -> None:
        self.documents.append(document)


@pytest.fixture
def gateway(database_url: str) -> Iterator[EdiGateway]:
    with edi_gateway(database_url, requested("PO-C1")) as running:
        yield running


def cancel(gateway: EdiGateway, line_no: int, quantity: int) -> None:
    request = PurchaseOrderCancelRequested(
        po_number="PO-C1",
        supplier_id="edi",
        backorder_line_id=f"OPO-C1{line_no}-1",
        line_no=line_no,
        quantity=quantity,
    )
    gateway.run(
        lambda: handlers.on_purchase_order_cancel_requested(
            gateway.app.state.uow_factory, Envelope.wrap(request, "cancel")
        )
    )


def resolve_due(gateway: EdiGateway, inbox: EdiInbox) -> None:
    """One pass of the cancellation loop, every request due now (no backoff in between)."""
    uow_factory = gateway.app.state.uow_factory
    resolver = LineCancellationResolver(
        uow_factory,
        http=None,  # type: ignore[arg-type]  # an X12 supplier is never asked over HTTP
        policy=CancellationPolicy(retry_base_seconds=0, retry_max_seconds=0),
        x12=X12LineCancellation(uow_factory, inbox, gateway.app.state.x12_identity),
    )
    gateway.run(resolver.resolve_due)


def answer_865(lines: tuple[LineChangeAnswer, ...], number: int) -> str:
    ack = PurchaseOrderChangeAcknowledgement("PO-C1", "AC", date(2026, 11, 28), lines)
    transaction = build_865(ack, 1)
    body = "".join(serialize_segment(s) for s in transaction.segments)
    count = len(transaction.segments) + 2
    group = (
        f"GS*CA*EDISUPGS*DROPSHIPBUYER*20261128*1200*{{gs06}}*X*004010~ST*865*0001~{body}SE*{count}*0001~GE*1*{{gs06}}~"
    )
    return interchange(group, number)


def requests_state(gateway: EdiGateway) -> list[tuple[int, str, str | None]]:
    async def read() -> list[tuple[int, str, str | None]]:
        async with gateway.app.state.runtime.engine.connect() as connection:
            rows = await connection.execute(
                select(line_cancellations.c.line_no, line_cancellations.c.state, line_cancellations.c.outcome).order_by(
                    line_cancellations.c.id
                )
            )
            return [(row.line_no, row.state, row.outcome) for row in rows]

    return gateway.run(read)


def resolved_events(gateway: EdiGateway) -> list[dict[str, object]]:
    async def read() -> list[dict[str, object]]:
        async with gateway.app.state.runtime.engine.connect() as connection:
            rows = await connection.execute(
                select(outbox.c.body).where(outbox.c.event_type == "purchase_order.line_cancellation_resolved")
            )
            return [json.loads(row.body)["payload"] for row in rows]

    return gateway.run(read)


def test_an_860_goes_out_once_per_request_and_the_865_resolves_each_line(gateway: EdiGateway) -> None:
    inbox = EdiInbox()
    cancel(gateway, 1, 2)
    cancel(gateway, 2, 1)
    resolve_due(gateway, inbox)
    assert len(inbox.documents) == 2
    changes = [parse_860(read_interchange(text).groups[0].transactions[0]) for text in inbox.documents]
    assert [(c.po_number, c.lines[0].line_no, c.lines[0].change_type, c.lines[0].cancelled) for c in changes] == [
        ("PO-C1", 1, "DI", 2),
        ("PO-C1", 2, "QD", 1),
    ]
    assert changes[1].lines[0].remaining == 2
    assert requests_state(gateway) == [(1, "pending", None), (2, "pending", None)]

    resolve_due(gateway, inbox)  # no answer yet: the same interchanges again, not new ones
    assert inbox.documents[2:] == inbox.documents[:2]

    # the supplier cancels line 1 and refuses line 2 (it left the warehouse)
    lines = (LineChangeAnswer(1, "accepted", "IA"), LineChangeAnswer(2, "refused", "IR", "already shipped"))
    answered = gateway.post(answer_865(lines, 301))
    assert answered.status_code == 200 and answered.headers["X-Interchange-Status"] == "000000301=accepted"
    assert parse_997(read_interchange(answered.text).groups[0].transactions[0]).accepted
    assert [state for _, state, _ in requests_state(gateway)] == ["resolved", "resolved"]
    outcomes = {event["backorder_line_id"]: event["outcome"] for event in resolved_events(gateway)}
    assert outcomes["OPO-C11-1"] == "cancelled"
    assert outcomes["OPO-C12-1"] != "cancelled"
    po = gateway.run(lambda: gateway.client.get("/purchase-orders/PO-C1")).json()
    assert [line["cancelled_qty"] for line in po["lines"]] == [2, 0]

    resolve_due(gateway, inbox)  # nothing waits any more: nothing is sent
    assert len(inbox.documents) == 4


def test_an_865_that_neither_confirms_nor_refuses_leaves_the_request_waiting(gateway: EdiGateway) -> None:
    inbox = EdiInbox()
    cancel(gateway, 1, 2)
    resolve_due(gateway, inbox)
    unclear = gateway.post(answer_865((LineChangeAnswer(1, "unknown", "IB"),), 302))
    assert unclear.headers["X-Interchange-Status"] == "000000302=accepted"
    assert requests_state(gateway) == [(1, "pending", None)]
    assert resolved_events(gateway) == []


def test_an_865_refusal_reaches_operations_and_the_event_in_the_suppliers_own_words(gateway: EdiGateway) -> None:
    inbox = EdiInbox()
    cancel(gateway, 1, 2)
    cancel(gateway, 2, 1)
    resolve_due(gateway, inbox)
    body = (
        "BCA*06*AC*PO-C1**1*20261128~MSG*Dock closed until Monday~"
        "POC*1*DI~ACK*IR*2*EA~NTE*GEN*Picked and packed, on the truck~POC*2*DI~ACK*R2*1*EA~CTT*2~"
    )
    count = body.count("~") + 2
    group = (
        f"GS*CA*EDISUPGS*DROPSHIPBUYER*20261128*1200*{{gs06}}*X*004010~ST*865*0001~{body}SE*{count}*0001~GE*1*{{gs06}}~"
    )
    answered = gateway.post(interchange(group, 303))
    assert answered.headers["X-Interchange-Status"] == "000000303=accepted"
    reasons = {event["backorder_line_id"]: (event["outcome"], event["reason"]) for event in resolved_events(gateway)}
    assert reasons == {
        "OPO-C11-1": ("refused", "Picked and packed, on the truck"),  # the line's note
        "OPO-C12-1": ("refused", "Dock closed until Monday"),  # no words of its own: the header's
    }
    filed = gateway.run(lambda: gateway.client.get("/exceptions", params={"kind": "cancel_refused"})).json()
    assert sorted((e["line_no"], e["received"]) for e in filed) == [
        (1, "Picked and packed, on the truck"),
        (2, "Dock closed until Monday"),
    ]
    assert all("refused to cancel: " in e["detail"] for e in filed)
