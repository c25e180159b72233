"""Reading purchase orders; retrying, failing or cancelling those not placed (operations, customer service)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status

from dropship_shared.audit import Audit, AuditLog
from dropship_shared.problems import problem_responses
from dropship_shared.web import correlation_id_of
from supplier_gateway.domain.purchase_order import PurchaseOrder, PurchaseOrderError, PurchaseOrderState
from supplier_gateway.entrypoints.deps import Uow
from supplier_gateway.entrypoints.schemas import OperatorReason, PurchaseOrderOut
from supplier_gateway.service_layer import handlers, purchase_order_failures
from supplier_gateway.service_layer.errors import PurchaseOrderNotFound

router = APIRouter(prefix="/purchase-orders", tags=["purchase orders"])


@router.get("", summary="Purchase orders, newest first, by state, supplier, PO numbers or SKU, a page at a time")
async def list_purchase_orders(
    uow: Uow,
    state: PurchaseOrderState | None = None,
    supplier_id: Annotated[str | None, Query(max_length=64)] = None,
    po_number: Annotated[list[str], Query(max_length=200, description="one or more PO numbers")] = [],  # noqa: B006
    sku: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[PurchaseOrderOut]:
    where = handlers.PurchaseOrderFilter(state, supplier_id, tuple(po_number), sku, limit, offset)
    return [PurchaseOrderOut.of(po) for po in await handlers.list_purchase_orders(uow, where)]


@router.get(
    "/{po_number}",
    summary="One purchase order with its lines, state history and sending status",
    responses=problem_responses(404),
)
async def get_purchase_order(po_number: str, uow: Uow) -> PurchaseOrderOut:
    try:
        view = await handlers.get_purchase_order(uow, po_number)
    except PurchaseOrderNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    return PurchaseOrderOut.of(view.po, view.dispatch)


@router.post(
    "/{po_number}/retry",
    summary="Send a failed purchase order again, or a waiting one now (same PO number)",
    responses=problem_responses(404, 409),
)
async def retry_purchase_order(po_number: str, request: Request, uow: Uow, audit: Audit) -> PurchaseOrderOut:
    retried = await _operate(
        request,
        audit,
        "purchase_order.retry",
        po_number,
        {},
        lambda: handlers.retry_purchase_order(uow, po_number, correlation_id_of(request)),
    )
    request.app.state.dispatch_ready.set()
    return retried


@router.post(
    "/{po_number}/fail",
    summary="Give up on a purchase order not yet placed (the customers are told)",
    responses=problem_responses(404, 409, 422),
)
async def fail_purchase_order(
    po_number: str, failure: OperatorReason, request: Request, uow: Uow, audit: Audit
) -> PurchaseOrderOut:
    return await _operate(
        request,
        audit,
        "purchase_order.fail",
        po_number,
        {"reason": failure.reason},
        lambda: purchase_order_failures.fail_purchase_order(uow, po_number, failure.reason, correlation_id_of(request)),
    )


@router.post(
    "/{po_number}/cancel",
    summary="Cancel a purchase order still waiting to reach its supplier: it never goes out (the customers are "
    "told); 409 once it has left",
    responses=problem_responses(404, 409, 422),
)
async def cancel_purchase_order(
    po_number: str, cancellation: OperatorReason, request: Request, uow: Uow, audit: Audit
) -> PurchaseOrderOut:
    return await _operate(
        request,
        audit,
        "purchase_order.cancel",
        po_number,
        {"reason": cancellation.reason},
        lambda: purchase_order_failures.cancel_purchase_order(
            uow, po_number, cancellation.reason, correlation_id_of(request)
        ),
    )


async def _operate(
    request: Request,
    audit: AuditLog,
    action: str,
    po_number: str,
    details: dict[str, Any],
    operation: Callable[[], Awaitable[PurchaseOrder]],
) -> PurchaseOrderOut:
    """An operator's change of a PO: 404 for an unknown PO, 409 when its state refuses; recorded in the audit log."""
    try:
        po = await operation()
    except PurchaseOrderNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except PurchaseOrderError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    await audit.record(request, action, po_number, details)
    return PurchaseOrderOut.of(po)
