"""The exceptions inbox: filing what a purchase order noticed and the dead letters of every service, listing,
resolving with a note (a dead letter's message replayed on request)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from dropship_shared.events import DeadLetterRecorded, Envelope, utcnow
from dropship_shared.unit_of_work import UnitOfWorkFactory
from supplier_gateway.adapters.exception_repository import ExceptionFilter
from supplier_gateway.domain.purchase_order import PurchaseOrder
from supplier_gateway.domain.supplier_exception import Anomaly, ExceptionAlreadyResolved, SupplierException
from supplier_gateway.service_layer.errors import ExceptionNotFound, NothingToReplay
from supplier_gateway.service_layer.handlers import CONSUMER
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
    return await uow.exceptions.add(SupplierException.open(anomaly, supplier_id, po_number, source, at, received))


# Publishes one dead-lettered message again from `<queue>.dlq` (queue, message id); False when it is not there.
DeadLetterReplay = Callable[[str, str], Awaitable[bool]]


async def on_dead_letter_recorded(uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], envelope: Envelope) -> None:
    """A service dead-lettered a message: it opens an exception (once per notice)."""
    recorded = envelope.payload_as(DeadLetterRecorded)
    async with uow_factory() as uow:
        if not await uow.first_delivery(CONSUMER, envelope):
            return
        await uow.exceptions.add(SupplierException.of_dead_letter(recorded, str(envelope.event_id), utcnow()))
        await uow.commit()


async def file_anomalies(
    uow: GatewayUnitOfWork, po: PurchaseOrder, source: str, at: datetime, received: str | None = None
) -> list[Anomaly]:
    """File what the PO noticed while applying a supplier answer; returns them (the answer names them)."""
    anomalies = list(po.anomalies)
    for anomaly in anomalies:
        await file_exception(uow, anomaly, po.supplier_id, po.po_number, source, at, received)
    po.anomalies.clear()
    return anomalies


async def list_exceptions(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], where: ExceptionFilter
) -> list[SupplierException]:
    async with uow_factory() as uow:
        return await uow.exceptions.search(where)


async def get_exception(uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], exception_id: str) -> SupplierException:
    async with uow_factory() as uow:
        found = await uow.exceptions.get(exception_id)
    if found is None:
        raise ExceptionNotFound(f"exception {exception_id!r} not found")
    return found


async def resolve_exception(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork],
    exception_id: str,
    note: str,
    correlation_id: str,
    replay: DeadLetterReplay | None = None,
) -> SupplierException:
    """An operator resolves an exception with a note; ExceptionAlreadyResolved when it was resolved before.

    With `replay`, a dead letter's message is published again first (outside any transaction): NothingToReplay
    when the exception is no dead letter or its message is no longer in the dead-letter queue."""
    if replay is not None:
        await _replay(await get_exception(uow_factory, exception_id), replay)
        note = f"{note} (message replayed)"
    async with uow_factory() as uow:
        uow.correlation_id = correlation_id
        found = await uow.exceptions.get(exception_id, for_update=True)
        if found is None:
            raise ExceptionNotFound(f"exception {exception_id!r} not found")
        found.resolve(note, utcnow())
        await uow.exceptions.save_resolution(found)
        await uow.commit()
        return found


async def _replay(found: SupplierException, replay: DeadLetterReplay) -> None:
    source = found.dead_letter
    if source is None:
        raise NothingToReplay(f"exception {found.exception_id} is a {found.kind}, not a dead letter: nothing to replay")
    if not found.is_open:
        raise ExceptionAlreadyResolved(f"exception {found.exception_id} was resolved at {found.resolved_at}")
    if source.message_id is None:
        raise NothingToReplay(
            f"the dead letter has no message id: replay {source.queue}.dlq whole (POST /admin/dead-letters/replay)"
        )
    if not await replay(source.queue, source.message_id):
        raise NothingToReplay(f"message {source.message_id} is no longer in {source.queue}.dlq (replayed or purged)")
