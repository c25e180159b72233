"""The operations dashboard: one page over the aggregator API plus what the other services report."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi import Path as PathParameter
from fastapi.responses import HTMLResponse

from aggregator.adapters.peer_services import PeerServices
from aggregator.entrypoints.dashboard_sign_in import DASHBOARD_ROLES, PAGE_HEADERS, sessions_of, sign_in_page
from dropship_shared.audit import Audit
from dropship_shared.inputs import IDENTIFIER
from dropship_shared.messaging import Broker
from dropship_shared.problems import problem_responses

router = APIRouter()
STATIC = Path(__file__).parent / "static"
PAGE = STATIC / "dashboard.html"


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(request: Request) -> HTMLResponse:
    """The page for a signed-in operator (its data comes from protected calls), else the sign-in page."""
    session = sessions_of(request).current(request)
    if session is None or not session.caller.roles & DASHBOARD_ROLES:
        return sign_in_page(request)
    page = (
        PAGE.read_text(encoding="utf-8")
        .replace("{csrf_token}", html.escape(session.csrf_token))
        .replace("{subject}", html.escape(session.caller.subject))
    )
    return HTMLResponse(page, headers=PAGE_HEADERS)


@router.get("/dashboard/overview", tags=["operations"], summary="What failed and how backorders fare, system-wide")
async def overview(request: Request) -> dict[str, Any]:
    peers: PeerServices = request.app.state.peers
    broker: Broker = request.app.state.runtime.broker
    found = await peers.overview()
    try:
        own = len(await broker.dead_letters(request.app.state.queue, 100))
    except Exception:  # the broker is away: the rest of the page still helps
        own = None
    found["dead_letters"]["aggregator"] = own
    return found


@router.post(
    "/dashboard/purchase-orders/{po_number}/retry",
    tags=["operations"],
    summary="Ask the gateway to send a failed purchase order again (same PO number)",
    responses=problem_responses(404, 409, 502),
)
async def retry_purchase_order(
    po_number: Annotated[str, PathParameter(min_length=1, max_length=64, pattern=IDENTIFIER)],
    request: Request,
    audit: Audit,
) -> Response:
    peers: PeerServices = request.app.state.peers
    try:
        answer = await peers.retry_purchase_order(po_number)
    except Exception as exc:
        raise HTTPException(502, detail=f"the supplier gateway did not answer: {exc}") from exc
    if answer.is_success:
        await audit.record(request, "purchase_order.retry", po_number)
    # The gateway's own answer, content type included (a refusal is a problem+json there too).
    return Response(answer.content, status_code=answer.status_code, media_type=answer.headers.get("content-type"))
