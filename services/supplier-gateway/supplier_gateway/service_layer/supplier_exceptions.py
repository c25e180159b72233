"""The exceptions inbox: filing what a purchase order noticed, listing, resolving with a note."""

from __future__ import annotations

from datetime import datetime

from dropship_shared.events import utcnow
from supplier_gateway.adapters.exception_repository import ExceptionFilter
from supplier_gateway.domain.purchase_order import PurchaseOrder
from supplier_gateway.domain.supplier_exception import Anomaly, SupplierException
from supplier_gateway.service_layer.errors import ExceptionNotFound
from supplier_gateway.service_layer.handlers import UnitOfWorkFactory
from supplier_gateway.service_layer.unit_of_work import GatewayUnitOfWork


async def file_exception(
    uow: GatewayUnitOfWork,
    anomaly: Anomaly,
    supplier_id: str,
    po_number: str | None,
    source: str,
    at: datetime,
    received: str | None = None,
) -> bool:
    """Open an exception in the caller's transaction; the same anomaly from the same source is filed once
    (False when it was filed before)."""
    found = SupplierException.open(anomaly, supplier_id, po_number, source, at, received)
    if not await uow.exceptions.add(found):
        return False
    for event in found.events:
        uow.emit(event)
    return True


async def file_anomalies(
    uow: GatewayUnitOfWork, po: PurchaseOrder, source: str, at: datetime, received: str | None = None
) -> list[Anomaly]:
    """File what the PO noticed while applying a supplier answer; returns them (the answer names them)."""
    anomalies = list(po.anomalies)
    for anomaly in anomalies:
        await file_exception(uow, anomaly, po.supplier_id, po.po_number, source, at, received)
    po.anomalies.clear()
    return anomalies


async def list_exceptions(uow_factory: UnitOfWorkFactory, where: ExceptionFilter) -> list[SupplierException]:
    async with uow_factory() as uow:
        return await uow.exceptions.search(where)


async def get_exception(uow_factory: UnitOfWorkFactory, exception_id: str) -> SupplierException:
    async with uow_factory() as uow:
        found = await uow.exceptions.get(exception_id)
    if found is None:
        raise ExceptionNotFound(f"exception {exception_id!r} not found")
    return found


async def resolve_exception(
    uow_factory: UnitOfWorkFactory, exception_id: str, note: str, correlation_id: str
) -> SupplierException:
    """An operator resolves an exception with a note; ExceptionAlreadyResolved when it was resolved before."""
    async with uow_factory() as uow:
        uow.correlation_id = correlation_id
        found = await uow.exceptions.get(exception_id, for_update=True)
        if found is None:
            raise ExceptionNotFound(f"exception {exception_id!r} not found")
        found.resolve(note, utcnow())
        await uow.exceptions.save_resolution(found)
        for event in found.events:
            uow.emit(event)
        await uow.commit()
        return found
