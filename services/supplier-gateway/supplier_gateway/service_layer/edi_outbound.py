"""Placing a PO as an X12 850: the interchange is built once, with a control number from the partner's
persisted counter, and stored before it is sent, so a re-send after a crash is the very same interchange."""

from __future__ import annotations

from dataclasses import dataclass

from dropship_shared.events import utcnow
from supplier_gateway.adapters.x12_documents import purchase_order_interchange, sender_key
from supplier_gateway.adapters.x12_store import StoredInterchange
from supplier_gateway.domain.purchase_order import PurchaseOrder
from supplier_gateway.domain.supplier import Supplier, TradingPartner
from supplier_gateway.service_layer.handlers import UnitOfWorkFactory
from supplier_gateway.service_layer.supplier_port import DocumentChannel, Placement, SupplierRefused


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
        if supplier.x12_partner is None:
            raise SupplierRefused(f"supplier {supplier.supplier_id!r} has no X12 trading partner ids")
        async with self._uow() as uow:
            stored = await uow.x12.outbound_purchase_order(po.po_number)
            if stored is not None:
                return stored.body
            number = await uow.x12.next_control_number(supplier.supplier_id)
            now = utcnow()
            body = purchase_order_interchange(
                po, self._us.partner, supplier.x12_partner, self._us.buyer_name, number, now, self._us.usage_indicator
            )
            await uow.x12.add(
                StoredInterchange(
                    supplier_id=supplier.supplier_id,
                    direction="outbound",
                    sender_id=sender_key(self._us.partner.isa_qualifier, self._us.partner.isa_id),
                    control_number=str(number).zfill(9),
                    kind="850",
                    po_number=po.po_number,
                    group_control_number=str(number),
                    status="sent",
                    body=body,
                    reply=None,
                ),
                now,
            )
            await uow.commit()
            return body
