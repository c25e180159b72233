"""One function per command and per incoming event, each in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from dropship_shared.events import Envelope, PurchaseOrderCancelRequested, PurchaseOrderRequested, utcnow
from dropship_shared.logs import get_logger
from dropship_shared.unit_of_work import UnitOfWorkFactory
from supplier_gateway.adapters.dispatch_queue import DispatchStatus
from supplier_gateway.adapters.x12_store import StoredInterchange
from supplier_gateway.domain.purchase_order import PurchaseOrder, PurchaseOrderState
from supplier_gateway.domain.supplier import Supplier
from supplier_gateway.service_layer.errors import PurchaseOrderNotFound, SupplierNotFound
from supplier_gateway.service_layer.unit_of_work import GatewayUnitOfWork

CONSUMER = "supplier-gateway"
log = get_logger(__name__)


# -- the supplier registry ------------------------------------------------------------------
async def register_supplier(uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], supplier: Supplier) -> Supplier:
    async with uow_factory() as uow:
        await uow.suppliers.upsert(supplier, utcnow())
        if supplier.active:
            await uow.dispatch.make_due(supplier.supplier_id)  # a changed or released entry: try now
        await uow.commit()
    return supplier


async def get_supplier(uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], supplier_id: str) -> Supplier:
    async with uow_factory() as uow:
        supplier = await uow.suppliers.get(supplier_id)
    if supplier is None:
        raise SupplierNotFound(f"supplier {supplier_id!r} is not registered")
    return supplier


async def list_suppliers(uow_factory: UnitOfWorkFactory[GatewayUnitOfWork]) -> list[Supplier]:
    async with uow_factory() as uow:
        return await uow.suppliers.all()


async def recent_interchanges(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], supplier_id: str, limit: int = 100
) -> list[StoredInterchange]:
    async with uow_factory() as uow:
        return await uow.x12.recent(supplier_id, limit)


# -- events from the aggregator ---------------------------------------------------------------
async def on_purchase_order_requested(uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], envelope: Envelope) -> None:
    """Store the PO and its lines as requested; the dispatcher sends it."""
    payload = envelope.payload_as(PurchaseOrderRequested)
    async with uow_factory() as uow:
        if not await uow.first_delivery(CONSUMER, envelope):
            return
        if await uow.purchase_orders.exists(payload.po_number):
            # a PO number is placed once; a second release under the same number is the aggregator's replay
            log.warning("purchase order requested twice; ignored", po_number=payload.po_number)
        else:
            await uow.purchase_orders.add(PurchaseOrder.request(payload, utcnow(), envelope.correlation_id))
        await uow.commit()


async def on_purchase_order_cancel_requested(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], envelope: Envelope
) -> None:
    """Queue the line cancellation; the cancellation loop asks the supplier (never inside a transaction)."""
    payload = envelope.payload_as(PurchaseOrderCancelRequested)
    async with uow_factory() as uow:
        if not await uow.first_delivery(CONSUMER, envelope):
            return
        await uow.cancellations.add(
            payload.po_number,
            payload.supplier_id,
            payload.backorder_line_id,
            payload.line_no,
            payload.quantity,
            str(envelope.event_id),
            utcnow(),
        )
        await uow.commit()


# -- reading and operating purchase orders ----------------------------------------------------
@dataclass(frozen=True)
class PurchaseOrderFilter:
    state: PurchaseOrderState | None = None
    supplier_id: str | None = None
    po_numbers: tuple[str, ...] = ()
    sku: str | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class PurchaseOrderView:
    po: PurchaseOrder
    dispatch: DispatchStatus


async def get_purchase_order(uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], po_number: str) -> PurchaseOrderView:
    async with uow_factory() as uow:
        po = await uow.purchase_orders.get(po_number)
        dispatch = await uow.dispatch.status(po_number)
    if po is None or dispatch is None:
        raise PurchaseOrderNotFound(f"purchase order {po_number!r} not found")
    return PurchaseOrderView(po, dispatch)


async def list_purchase_orders(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], where: PurchaseOrderFilter
) -> list[PurchaseOrder]:
    async with uow_factory() as uow:
        return await uow.purchase_orders.search(
            where.state, where.supplier_id, where.limit, where.offset, where.po_numbers, where.sku
        )


async def retry_purchase_order(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], po_number: str, correlation_id: str
) -> PurchaseOrder:
    """An operator sends a failed PO again, or a waiting one now (same number: the supplier still sees at
    most one order)."""
    async with uow_factory() as uow:
        uow.correlation_id = correlation_id
        po = await uow.purchase_orders.get(po_number, for_update=True)
        if po is None:
            raise PurchaseOrderNotFound(f"purchase order {po_number!r} not found")
        if po.state is PurchaseOrderState.REQUESTED:
            await uow.dispatch.send_now(po_number)
        else:
            async with uow.changing(po):
                po.retry(utcnow())
            await uow.dispatch.reset(po_number)
        await uow.commit()
        return po
