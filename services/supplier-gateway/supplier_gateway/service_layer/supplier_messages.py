"""Applying what a supplier tells us (acknowledgements, shipment notices) to our purchase orders: every
valid part is applied, every bad part becomes an exception for operations and is named in the answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from dropship_shared.events import utcnow
from dropship_shared.unit_of_work import UnitOfWorkFactory
from supplier_gateway.domain.purchase_order import NothingApplied
from supplier_gateway.domain.supplier_exception import Anomaly, ExceptionKind
from supplier_gateway.domain.supplier_messages import Acknowledgement, ShipmentNotice, SupplierMessage
from supplier_gateway.service_layer.errors import PurchaseOrderNotFound, ReplayedEvent
from supplier_gateway.service_layer.supplier_exceptions import file_anomalies, file_exception
from supplier_gateway.service_layer.unit_of_work import GatewayUnitOfWork


@dataclass(frozen=True)
class MessageOutcome:
    changed: bool  # False: nothing new (a shipment notice already applied under another event id)
    not_applied: list[str] = field(default_factory=list)  # the bad parts, in words


def kind_of(message: SupplierMessage) -> str:
    return "acknowledgement" if isinstance(message, Acknowledgement) else "shipment"


def source_of(message: SupplierMessage, event_id: str) -> str:
    """What identifies the message for its exceptions: a resent shipment notice is filed once."""
    return f"shipment {message.shipment_id}" if isinstance(message, ShipmentNotice) else f"event {event_id}"


async def apply_supplier_message(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork],
    supplier_id: str,
    event_id: str,
    message: SupplierMessage,
    received: str | None = None,
) -> MessageOutcome:
    """Apply one signed callback or polled event once: its event id is recorded with the effect, and the
    events it causes carry the correlation id of the PO's release.

    Raises ReplayedEvent for an event id applied before; PurchaseOrderNotFound or NothingApplied when no
    part could be applied (then the event id is not recorded, the exception is filed); a domain
    PurchaseOrderError for a message the PO's state refuses."""
    source = source_of(message, event_id)
    try:
        async with uow_factory() as uow:
            now = utcnow()
            if not await uow.supplier_events.record(supplier_id, event_id, kind_of(message), message.po_number, now):
                raise ReplayedEvent(f"event {event_id!r} of supplier {supplier_id!r} was applied before")
            outcome = await apply_message(uow, supplier_id, message, now, source, received)
            await uow.commit()
            return outcome
    except PurchaseOrderNotFound as exc:
        await _file_unapplied(uow_factory, supplier_id, message, source, received, [unknown_purchase_order(exc)])
        raise
    except NothingApplied as exc:
        await _file_unapplied(uow_factory, supplier_id, message, source, received, exc.anomalies)
        raise


async def apply_in(uow: GatewayUnitOfWork, supplier_id: str, message: SupplierMessage, now: datetime) -> bool:
    """Apply a message inside the caller's transaction (an X12 interchange applies all its sets at once)."""
    return (await apply_message(uow, supplier_id, message, now, source_of(message, now.isoformat()))).changed


async def apply_message(
    uow: GatewayUnitOfWork,
    supplier_id: str,
    message: SupplierMessage,
    now: datetime,
    source: str,
    received: str | None = None,
) -> MessageOutcome:
    po = await uow.purchase_orders.get(message.po_number, for_update=True)
    if po is None or po.supplier_id != supplier_id:
        raise PurchaseOrderNotFound(f"supplier {supplier_id!r} has no purchase order {message.po_number!r}")
    uow.correlation_id = po.correlation_id
    if isinstance(message, ShipmentNotice):
        changed = po.record_shipment(message, now)
    else:
        po.acknowledge(message, now)
        changed = True
    anomalies = await file_anomalies(uow, po, source, now, received)
    if changed:
        await uow.purchase_orders.save(po)
    return MessageOutcome(changed, [anomaly.detail for anomaly in anomalies])


def unknown_purchase_order(exc: PurchaseOrderNotFound) -> Anomaly:
    return Anomaly(ExceptionKind.UNKNOWN_PURCHASE_ORDER, f"{exc}; nothing applied")


async def _file_unapplied(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork],
    supplier_id: str,
    message: SupplierMessage,
    source: str,
    received: str | None,
    anomalies: list[Anomaly],
) -> None:
    async with uow_factory() as uow:
        for anomaly in anomalies:
            await file_exception(uow, anomaly, supplier_id, message.po_number, source, utcnow(), received)
        await uow.commit()
