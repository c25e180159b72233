"""Signed supplier callbacks (acknowledgements and shipment notices): verified, applied once, or refused
with nothing applied. The kind comes from the path, else X-Event-Type, else the body's shape."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, Path, Request, status

from dropship_shared.problems import problem_responses
from dropship_shared.signing import SignatureError, verify
from supplier_gateway.adapters.json_messages import UnreadableMessage, read_message
from supplier_gateway.domain.purchase_order import InvalidTransition, NothingApplied, PurchaseOrderError
from supplier_gateway.entrypoints.deps import Settings, Uow
from supplier_gateway.entrypoints.schemas import CallbackAccepted
from supplier_gateway.service_layer import handlers
from supplier_gateway.service_layer.errors import PurchaseOrderNotFound, ReplayedEvent, SupplierNotFound
from supplier_gateway.service_layer.supplier_messages import apply_supplier_message

router = APIRouter(prefix="/suppliers/{supplier_id}", tags=["supplier callbacks"])
MAX_BODY_BYTES = 5_000_000
EVENT_TYPE_HEADER = "X-Event-Type"
RECEIVED_BYTES = 4000  # of the body, kept with an exception it causes


@router.post(
    "/callbacks",
    summary="A signed acknowledgement or shipment notice (X-Signature, X-Timestamp, X-Event-Id)",
    responses={
        401: {"description": "Unsigned, badly signed, stale or replayed"},
        **problem_responses(404, 409, 422),
    },
)
async def post_callback(
    supplier_id: Annotated[str, Path(max_length=64)],
    request: Request,
    uow: Uow,
    settings: Settings,
    x_event_type: Annotated[str | None, Header(max_length=40)] = None,
) -> CallbackAccepted:
    return await _receive(supplier_id, request, uow, settings.callback_tolerance_seconds, x_event_type)


@router.post(
    "/callbacks/{kind}",
    summary="The same, with the kind in the path",
    responses={401: {"description": "Unsigned, badly signed, stale or replayed"}, **problem_responses(404, 409, 422)},
)
async def post_callback_of_kind(
    supplier_id: Annotated[str, Path(max_length=64)],
    kind: Literal["acknowledgement", "shipment"],
    request: Request,
    uow: Uow,
    settings: Settings,
) -> CallbackAccepted:
    return await _receive(supplier_id, request, uow, settings.callback_tolerance_seconds, kind)


async def _receive(
    supplier_id: str, request: Request, uow: Uow, tolerance_seconds: int, kind: str | None
) -> CallbackAccepted:
    raw = await request.body()
    try:
        supplier = await handlers.get_supplier(uow, supplier_id)
    except SupplierNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    try:
        verified = verify(supplier.signing_secret, raw, request.headers, tolerance_seconds=tolerance_seconds)
    except SignatureError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=f"signature refused: {exc.reason}") from exc
    try:
        message = read_message(raw, kind)
    except UnreadableMessage as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, detail={"message": str(exc), "errors": exc.errors}
        ) from exc
    try:
        outcome = await apply_supplier_message(
            uow, supplier_id, verified.event_id, message, raw[:RECEIVED_BYTES].decode("utf-8", "replace")
        )
    except ReplayedEvent as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=f"replayed: {exc}") from exc
    except PurchaseOrderNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    except NothingApplied as exc:
        detail = {"message": str(exc), "not_applied": [anomaly.detail for anomaly in exc.anomalies]}
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail) from exc
    except PurchaseOrderError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    answer = "partially_applied" if outcome.not_applied else "applied"
    return CallbackAccepted(
        status=answer if outcome.changed else "duplicate",
        event_id=verified.event_id,
        po_number=message.po_number,
        not_applied=outcome.not_applied,
    )
