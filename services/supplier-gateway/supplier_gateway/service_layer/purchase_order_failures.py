"""A PO that will never be placed: it fails (the supplier refused it, is not registered, stayed down too long,
or an operator gave up on it; operations get an exception), or operations cancel it before it went out.
Either way the orders service tells the customers."""

from __future__ import annotations

from dropship_shared.events import utcnow
from dropship_shared.unit_of_work import UnitOfWorkFactory
from supplier_gateway.domain.purchase_order import InvalidTransition, PurchaseOrder, PurchaseOrderState
from supplier_gateway.domain.supplier_exception import Anomaly, ExceptionKind
from supplier_gateway.service_layer.errors import PurchaseOrderNotFound
from supplier_gateway.service_layer.handlers import get_purchase_order
from supplier_gateway.service_layer.supplier_exceptions import file_exception
from supplier_gateway.service_layer.unit_of_work import GatewayUnitOfWork


async def fail_requested(uow: GatewayUnitOfWork, po_number: str, reason: str, kind: ExceptionKind) -> None:
    """Fail a PO that was never placed, in the caller's transaction, and file why."""
    po = await uow.purchase_orders.get(po_number, for_update=True)
    if po is None or po.state is not PurchaseOrderState.REQUESTED:
        return
    now = utcnow()
    async with uow.changing(po):
        po.fail(reason, now)
    for line in po.lines:  # one per line: each customer order finds its own
        anomaly = Anomaly(kind, f"PO {po_number} failed: {reason}", line.line_no, line.backorder_line_id)
        await file_exception(uow, anomaly, po.supplier_id, po_number, f"failure at {now.isoformat()}", now)


async def fail_purchase_order(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], po_number: str, reason: str, correlation_id: str
) -> PurchaseOrder:
    """An operator gives up on a PO that was never placed: it fails as if the supplier had refused it."""
    async with uow_factory() as uow:
        await _waiting(uow, po_number, correlation_id, "failed by hand")
        await fail_requested(uow, po_number, f"failed by operations: {reason}", ExceptionKind.FAILED_BY_OPERATOR)
        await uow.commit()
    return (await get_purchase_order(uow_factory, po_number)).po


async def cancel_purchase_order(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], po_number: str, reason: str, correlation_id: str
) -> PurchaseOrder:
    """An operator cancels a PO still waiting to reach its supplier: it never goes out, and the orders
    service closes its customer lines with the operator's reason (InvalidTransition once it has left)."""
    async with uow_factory() as uow:
        po = await _waiting(uow, po_number, correlation_id, "cancelled")
        async with uow.changing(po):
            po.cancel_unsent(reason, utcnow())
        await uow.commit()
    return (await get_purchase_order(uow_factory, po_number)).po


async def _waiting(uow: GatewayUnitOfWork, po_number: str, correlation_id: str, what: str) -> PurchaseOrder:
    """The PO, locked, if it is still waiting to be placed and no replica is sending it right now."""
    uow.correlation_id = correlation_id
    po = await uow.purchase_orders.get(po_number, for_update=True)
    dispatch = await uow.dispatch.status(po_number)
    if po is None or dispatch is None:
        raise PurchaseOrderNotFound(f"purchase order {po_number!r} not found")
    if po.state is not PurchaseOrderState.REQUESTED:
        raise InvalidTransition(f"PO {po_number} is {po.state}: only a PO not yet placed can be {what}")
    if dispatch.leased(utcnow()):
        raise InvalidTransition(f"PO {po_number} is being sent right now; try again in a moment")
    return po
