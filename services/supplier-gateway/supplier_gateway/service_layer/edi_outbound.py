"""What we send X12 suppliers: an 850 per PO and an 860 per line cancellation. Each interchange is built
once, with a control number from the partner's persisted counter, and stored before it is sent, so a re-send
after a crash or a lost answer is the very same interchange (the partner recognises its ISA13)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dropship_shared.events import utcnow
from supplier_gateway.adapters.cancellation_repository import LineCancellationRequest
from supplier_gateway.adapters.x12_documents import (
    change_reference,
    line_cancellation_interchange,
    purchase_order_interchange,
    sender_key,
)
from supplier_gateway.adapters.x12_store import StoredInterchange
from supplier_gateway.domain.purchase_order import PurchaseOrder
from supplier_gateway.domain.supplier import Supplier, TradingPartner
from supplier_gateway.service_layer.handlers import UnitOfWorkFactory
from supplier_gateway.service_layer.supplier_port import DocumentChannel, Placement, SupplierRefused
from supplier_gateway.service_layer.unit_of_work import GatewayUnitOfWork


@dataclass(frozen=True)
class OurX12Identity:
    partner: TradingPartner
    buyer_name: str
    usage_indicator: str = "P"


class X12Placement:
    def __init__(self, uow_factory: UnitOfWorkFactory, transport: DocumentChannel, us: OurX12Identity) -> None:
        self._uow = uow_factory
        self._transport = transport
        self._us = us

    async def place(self, supplier: Supplier, po: PurchaseOrder) -> Placement:
        document = await self.purchase_order_document(supplier, po)
        await self._transport.send(supplier, document)
        return Placement(supplier_order_id=None)

    async def purchase_order_document(self, supplier: Supplier, po: PurchaseOrder) -> str:
        them = _trading_partner(supplier)
        async with self._uow() as uow:
            stored = await uow.x12.outbound_purchase_order(po.po_number)
            if stored is not None:
                return stored.body
            number = await uow.x12.next_control_number(supplier.supplier_id)
            now = utcnow()
            us = self._us
            body = purchase_order_interchange(po, us.partner, them, us.buyer_name, number, now, us.usage_indicator)
            await _store_outbound(uow, supplier, us, "850", po.po_number, number, body, now)
            return body


class X12LineCancellation:
    """Asks an X12 supplier to cancel a line with an 860; the answer comes later, as an 865 on our /edi."""

    def __init__(self, uow_factory: UnitOfWorkFactory, transport: DocumentChannel, us: OurX12Identity) -> None:
        self._uow = uow_factory
        self._transport = transport
        self._us = us

    async def ask(self, supplier: Supplier, request: LineCancellationRequest) -> None:
        await self._transport.send(supplier, await self.change_document(supplier, request))

    async def change_document(self, supplier: Supplier, request: LineCancellationRequest) -> str:
        """The 860 of this cancel request (BCH05 = its id), built and stored the first time."""
        them = _trading_partner(supplier)
        reference = str(request.request_id)
        async with self._uow() as uow:
            for stored in await uow.x12.outbound_documents("860", request.po_number):
                if change_reference(stored.body) == reference:
                    return stored.body
            po = await uow.purchase_orders.get(request.po_number)
            if po is None:
                raise SupplierRefused(f"purchase order {request.po_number!r} is unknown")
            number = await uow.x12.next_control_number(supplier.supplier_id)
            now = utcnow()
            us = self._us
            body = line_cancellation_interchange(
                po, request.line_no, request.quantity, reference, us.partner, them, number, now, us.usage_indicator
            )
            await _store_outbound(uow, supplier, us, "860", po.po_number, number, body, now)
            return body


def _trading_partner(supplier: Supplier) -> TradingPartner:
    if supplier.x12_partner is None:
        raise SupplierRefused(f"supplier {supplier.supplier_id!r} has no X12 trading partner ids")
    return supplier.x12_partner


async def _store_outbound(
    uow: GatewayUnitOfWork,
    supplier: Supplier,
    us: OurX12Identity,
    kind: str,
    po_number: str,
    number: int,
    body: str,
    at: datetime,
) -> None:
    """Keep what we are about to send (ISA13 = GS06 = ``number``) and commit, before it leaves."""
    await uow.x12.add(
        StoredInterchange(
            supplier_id=supplier.supplier_id,
            direction="outbound",
            sender_id=sender_key(us.partner.isa_qualifier, us.partner.isa_id),
            control_number=str(number).zfill(9),
            kind=kind,
            po_number=po_number,
            group_control_number=str(number),
            status="sent",
            body=body,
            reply=None,
        ),
        at,
    )
    await uow.commit()
