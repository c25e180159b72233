"""Interchanges naming several POs (two functional groups, several 856s) lock those POs in one sorted order:
two partners' interchanges naming the same POs in opposite orders, posted at once again and again, never
deadlock on PostgreSQL, and every set is applied."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import text
from test_gateway_edi import ADDRESS

from dropship_shared.events import Envelope, PurchaseOrderLine, PurchaseOrderRequested, utcnow
from dropship_shared.signing import sign
from supplier_gateway.service_layer import handlers
from support.edi_gateway import ISA, SECRET, EdiGateway, edi_gateway

ROUNDS = 6


def big_po(po_number: str) -> PurchaseOrderRequested:
    line = PurchaseOrderLine(
        line_no=1,
        backorder_line_id=f"O{po_number}-1",
        sku="SKU-1",
        supplier_sku="V-1",
        quantity=1000,
        unit_cost=Decimal("1.00"),
        ship_to=ADDRESS,
        customer_ref="O1/1",
    )
    return PurchaseOrderRequested(
        po_number=po_number, supplier_id="edi", currency="USD", release_reason="minimum_reached", lines=[line]
    )


def group_856(po_number: str, gs06: int, shipment_id: str) -> str:
    return (
        f"GS*SH*EDISUPGS*DROPSHIPBUYER*20261127*1200*{gs06}*X*004010~ST*856*0001~"
        f"BSN*00*{shipment_id}*20261128*1200~HL*1**S~TD5**2*UPSN~HL*2*1*O~PRF*{po_number}~HL*3*2*P~"
        f"MAN*CP*1Z{shipment_id}~HL*4*3*I~LIN*1~SN1**1*EA~CTT*4~SE*13*0001~GE*1*{gs06}~"
    )


def two_groups(number: int, first: str, second: str) -> str:
    """One interchange, a group (one 856) per PO, in the order given."""
    isa13 = str(number).zfill(9)
    groups = group_856(first, number * 10 + 1, f"S{number}A") + group_856(second, number * 10 + 2, f"S{number}B")
    return ISA.format(isa13=isa13) + groups + f"IEA*2*{isa13}~"


@pytest.fixture
def gateway(postgres_url: str) -> Iterator[EdiGateway]:
    with edi_gateway(postgres_url, big_po("PO-LA")) as running:
        uow_factory = running.app.state.uow_factory

        async def second_po() -> None:
            await handlers.on_purchase_order_requested(uow_factory, Envelope.wrap(big_po("PO-LB"), "lock-test"))
            async with uow_factory() as uow:
                po = await uow.purchase_orders.get("PO-LB", for_update=True)
                po.mark_placed(None, utcnow())
                await uow.purchase_orders.save(po)
                await uow.commit()

        running.run(second_po)
        yield running


def test_interchanges_naming_the_same_pos_in_opposite_orders_never_deadlock(gateway: EdiGateway) -> None:
    async def deadlocks() -> int:
        async with gateway.app.state.runtime.engine.connect() as connection:
            found = await connection.scalar(
                text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
            )
        return int(found or 0)

    async def post(body: str) -> httpx.Response:
        raw = body.encode()
        return await gateway.client.post("/suppliers/edi/edi", content=raw, headers=sign(SECRET, raw))

    async def both_at_once(number: int) -> list[httpx.Response]:
        forward = two_groups(number, "PO-LA", "PO-LB")
        backward = two_groups(number + 1, "PO-LB", "PO-LA")
        return list(await asyncio.gather(post(forward), post(backward)))

    before = gateway.run(deadlocks)
    for round_no in range(ROUNDS):
        for answer in gateway.run(lambda n=round_no: both_at_once(100 + 2 * n)):
            assert answer.status_code == 200, answer.text
            assert answer.headers["X-Interchange-Status"].endswith("=accepted")
            assert answer.headers["X-Unapplied-Sets"] == ""
    for po_number in ("PO-LA", "PO-LB"):
        po = gateway.run(lambda p=po_number: gateway.client.get(f"/purchase-orders/{p}")).json()
        assert po["lines"][0]["shipped_qty"] == 2 * ROUNDS
    assert gateway.run(deadlocks) == before
