"""Applying what a supplier tells us (acknowledgements, shipment notices) to our purchase orders."""

from __future__ import annotations

from datetime import datetime

from dropship_shared.events import utcnow
from supplier_gateway.domain.supplier_messages import Acknowledgement, ShipmentNotice, SupplierMessage
from supplier_gateway.service_layer.errors import PurchaseOrderNotFound, ReplayedEvent
from supplier_gateway.service_layer.handlers import UnitOfWorkFactory
from supplier_gateway.service_layer.unit_of_work import GatewayUnitOfWork


def kind_of(message: SupplierMessage) -> str:
    return "acknowledgement" if isinstance(message, Acknowledgement) else "shipment"


async def apply_supplier_message(
    uow_factory: UnitOfWorkFactory,
    supplier_id: str,
    event_id: str,
    message: SupplierMessage,
) -> bool:
    """Apply one signed callback or polled event once: its event id is recorded with the effect, and the
    events it causes carry the correlation id of the PO's release.

    Raises ReplayedEvent for an event id applied before, PurchaseOrderNotFound, or a domain
    PurchaseOrderError; nothing is applied then. False when the message changed nothing (a
    shipment notice already applied under another event id)."""
    async with uow_factory() as uow:
        now = utcnow()
        if not await uow.supplier_events.record(supplier_id, event_id, kind_of(message), message.po_number, now):
            raise ReplayedEvent(f"event {event_id!r} of supplier {supplier_id!r} was applied before")
        changed = await apply_in(uow, supplier_id, message, now)
        await uow.commit()
        return changed


async def apply_in(uow: GatewayUnitOfWork, supplier_id: str, message: SupplierMessage, now: datetime) -> bool:
    """Apply a message inside the caller's transaction (an X12 interchange applies all its sets at once)."""
    po = await uow.purchase_orders.get(message.po_number, for_update=True)
    if po is None or po.supplier_id != supplier_id:
        raise PurchaseOrderNotFound(f"supplier {supplier_id!r} has no purchase order {message.po_number!r}")
    uow.correlation_id = po.correlation_id
    if isinstance(message, ShipmentNotice):
        changed = po.record_shipment(message, now)
    else:
        po.acknowledge(message, now)
        changed = True
    if changed:
        await uow.purchase_orders.save(po)
        for event in po.events:
            uow.emit(event)
        po.events.clear()
    return changed
