"""Reading purchase orders and retrying failed ones (operations dashboard, customer service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status

from dropship_shared.audit import Audit
from dropship_shared.problems import problem_responses
from dropship_shared.web import correlation_id_of
from supplier_gateway.domain.purchase_order import PurchaseOrderError, PurchaseOrderState
from supplier_gateway.entrypoints.deps import Uow
from supplier_gateway.entrypoints.schemas import FailureByOperator, PurchaseOrderOut
from supplier_gateway.service_layer import handlers, purchase_order_failures
from supplier_gateway.service_layer.errors import PurchaseOrderNotFound

router = APIRouter(prefix="/purchase-orders", tags=["purchase orders"])


@router.get("", summary="Purchase orders, newest first, optionally by state and supplier")
async def list_purchase_orders(
    uow: Uow,
    state: PurchaseOrderState | None = None,
    supplier_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[PurchaseOrderOut]:
    return [PurchaseOrderOut.of(po) for po in await handlers.list_purchase_orders(uow, state, supplier_id, limit)]


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
    try:
        po = await handlers.retry_purchase_order(uow, po_number, correlation_id_of(request))
    except PurchaseOrderNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except PurchaseOrderError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    request.app.state.dispatch_ready.set()
    await audit.record(request, "purchase_order.retry", po_number)
    return PurchaseOrderOut.of(po)


@router.post(
    "/{po_number}/fail",
    summary="Give up on a purchase order not yet placed (the customers are told)",
    responses=problem_responses(404, 409, 422),
)
async def fail_purchase_order(
    po_number: str, failure: FailureByOperator, request: Request, uow: Uow
) -> PurchaseOrderOut:
    try:
        po = await purchase_order_failures.fail_purchase_order(
            uow, po_number, failure.reason, correlation_id_of(request)
        )
    except PurchaseOrderNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except PurchaseOrderError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return PurchaseOrderOut.of(po)
