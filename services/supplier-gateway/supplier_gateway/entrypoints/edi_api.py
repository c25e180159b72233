"""The inbound EDI endpoint: a supplier POSTs raw X12 interchanges (signed like its JSON callbacks) and gets
our 997s back in the answer; duplicates get the 997 they got the first time, and nothing is applied twice."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, Field

from dropship_shared.problems import problem_responses
from dropship_shared.signing import SignatureError, verify
from supplier_gateway.domain.supplier import SupplierProtocol
from supplier_gateway.entrypoints.deps import Settings, Uow
from supplier_gateway.service_layer import handlers
from supplier_gateway.service_layer.edi_inbound import ForeignInterchange, UnreadableInterchange, receive_interchanges
from supplier_gateway.service_layer.edi_outbound import OurX12Identity
from supplier_gateway.service_layer.errors import ReplayedEvent, SupplierNotFound

router = APIRouter(prefix="/suppliers/{supplier_id}", tags=["supplier EDI"])
X12_MEDIA_TYPE = "application/edi-x12"
STATUS_HEADER = "X-Interchange-Status"
# Sets accepted in our 997 (well-formed) but not applied (unknown PO or line, over-shipment...): <ISA13>/<ST01 ST02>
UNAPPLIED_HEADER = "X-Unapplied-Sets"


@router.post(
    "/edi",
    summary="Raw X12 interchanges (855, 856, 865, 997, TA1) from an X12 supplier, HMAC-signed (no bearer token); "
    "answered with our 997s and TA1s",
    response_class=Response,
    responses={
        200: {
            "content": {X12_MEDIA_TYPE: {}},
            "description": "Our 997s (and TA1s), one interchange per interchange received (empty when the partner "
            "takes them at its acknowledgement_url); X-Interchange-Status "
            "says accepted, partial, rejected or duplicate per ISA13, X-Unapplied-Sets names the sets accepted "
            "but not applied (each filed in the exceptions inbox)",
        },
        401: {
            "description": "X-Signature missing or not the HMAC of the body with the supplier's secret, X-Timestamp "
            "outside CALLBACK_TOLERANCE_SECONDS, or an X-Event-Id seen before (a replayed request): nothing applied"
        },
        413: {"description": "Larger than EDI_MAX_BODY_BYTES"},
        422: {"description": "Not X12 (no ISA; EBCDIC is named), or not from this supplier to us"},
        **problem_responses(404, 409),
    },
)
async def post_interchanges(
    supplier_id: Annotated[str, Path(max_length=64)], request: Request, uow: Uow, settings: Settings
) -> Response:
    raw = await request.body()
    if len(raw) > settings.edi_max_body_bytes:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, detail=f"body too large: at most {settings.edi_max_body_bytes} bytes"
        )
    try:
        supplier = await handlers.get_supplier(uow, supplier_id)
    except SupplierNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    try:
        verified = verify(
            supplier.signing_secret, raw, request.headers, tolerance_seconds=settings.callback_tolerance_seconds
        )
    except SignatureError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=f"signature refused: {exc.reason}") from exc
    if supplier.protocol is not SupplierProtocol.X12:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"supplier {supplier_id!r} does not speak X12")
    us: OurX12Identity = request.app.state.x12_identity
    try:
        outcomes = await receive_interchanges(uow, supplier, raw, us, verified.event_id)
    except ReplayedEvent as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=f"replayed: {exc}") from exc
    except (UnreadableInterchange, ForeignInterchange) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    return Response(
        "".join(outcome.reply or "" for outcome in outcomes),
        media_type=X12_MEDIA_TYPE,
        headers={
            STATUS_HEADER: ",".join(f"{_header_safe(o.control_number)}={o.status}" for o in outcomes),
            UNAPPLIED_HEADER: ",".join(
                f"{_header_safe(o.control_number)}/{_header_safe(part.transaction_set)}"
                for o in outcomes
                for part in o.unapplied
            ),
        },
    )


def _header_safe(value: str) -> str:
    """A partner's ISA13 as it may appear in a header: control and non-ASCII characters percent-encoded."""
    return quote(value, safe="") if not (value.isascii() and value.isprintable()) or "," in value else value


class InterchangeOut(BaseModel):
    direction: str
    sender_id: str
    control_number: str
    kind: str
    po_number: str | None
    status: str
    body: str
    reply: str | None
    reply_delivery: str | None = Field(
        default=None, description="pending | sent to the partner's acknowledgement endpoint; null: in the answer"
    )


@router.get("/edi/interchanges", summary="The interchanges exchanged with an X12 supplier, newest first")
async def list_interchanges(
    supplier_id: Annotated[str, Path(max_length=64)], uow: Uow, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[InterchangeOut]:
    return [
        InterchangeOut.model_validate(stored, from_attributes=True)
        for stored in await handlers.recent_interchanges(uow, supplier_id, limit)
    ]
