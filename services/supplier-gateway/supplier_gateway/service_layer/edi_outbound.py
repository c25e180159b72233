"""What we send X12 suppliers: an 850 per PO and an 860 per line cancellation. Each interchange is built
once, with a control number from the partner's persisted counter, and stored before it is sent, so a re-send
after a crash or a lost answer is the very same interchange (the partner recognises its ISA13). Partners that
take our 997s/TA1s at an endpoint of their own get them from the acknowledgement sender."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from dropship_shared.events import utcnow
from dropship_shared.logs import get_logger
from dropship_shared.unit_of_work import UnitOfWorkFactory
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
from supplier_gateway.service_layer.supplier_port import (
    DocumentChannel,
    Placement,
    SupplierRefused,
    SupplierUnreachable,
)
from supplier_gateway.service_layer.unit_of_work import GatewayUnitOfWork

log = get_logger(__name__)


@dataclass(frozen=True)
class OurX12Identity:
    partner: TradingPartner
    buyer_name: str
    usage_indicator: str = "P"


class X12Placement:
    def __init__(
        self, uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], transport: DocumentChannel, us: OurX12Identity
    ) -> None:
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

    def __init__(
        self, uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], transport: DocumentChannel, us: OurX12Identity
    ) -> None:
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


@dataclass(frozen=True)
class AcknowledgementPolicy:
    interval_seconds: float = 2.0
    lease_seconds: float = 300.0  # longer than a send with its retries: then another replica may send it
    retry_seconds: float = 30.0  # the endpoint refused or was away: try again after this long
    batch_size: int = 20


class AcknowledgementSender:
    """Sends our 997s/TA1s to partners registered with an acknowledgement endpoint: each stored reply is
    leased to one replica, sent (signed, through the one supplier client), then marked; a refused or failed
    send is tried again later. At least once: a crash between sending and marking sends it again (the
    partner sees the same ISA13)."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory[GatewayUnitOfWork],
        transport: DocumentChannel,
        policy: AcknowledgementPolicy,
    ) -> None:
        self._uow = uow_factory
        self._transport = transport
        self._policy = policy

    async def run(self) -> None:
        while True:
            await self.send_due()
            await asyncio.sleep(self._policy.interval_seconds)

    async def send_due(self) -> int:
        async with self._uow() as uow:
            now = utcnow()
            claimed = await uow.x12.claim_replies(
                now, timedelta(seconds=self._policy.lease_seconds), self._policy.batch_size
            )
            await uow.commit()
        for reply in claimed:
            async with self._uow() as uow:
                supplier = await uow.suppliers.get(reply.supplier_id)
            url = supplier.x12_partner.acknowledgement_url if supplier and supplier.x12_partner else None
            try:
                if supplier is None or url is None:
                    raise SupplierRefused(f"supplier {reply.supplier_id!r} has no acknowledgement endpoint any more")
                await self._transport.send(supplier, reply.reply, url)
            except (SupplierRefused, SupplierUnreachable) as exc:
                log.warning(
                    "997 not delivered", supplier_id=reply.supplier_id, answering=reply.control_number, reason=str(exc)
                )
                async with self._uow() as uow:
                    later = utcnow() + timedelta(seconds=self._policy.retry_seconds)
                    await uow.x12.reply_postponed(reply.interchange_id, later)
                    await uow.commit()
                continue
            async with self._uow() as uow:
                await uow.x12.reply_delivered(reply.interchange_id)
                await uow.commit()
        return len(claimed)


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
