"""The operations console's API: read models joining the services' APIs, and the operator's actions on the
other services, made with the aggregator's credential for the signed-in operator (each service audits them
with the operator's name). The batches' own actions (release, hold, resume) are the aggregator API's."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi import Path as PathParameter
from pydantic import Field
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aggregator.adapters.peer_services import GATEWAY, ORDERS, PeerRefused, PeerServices, PeerUnavailable
from aggregator.entrypoints.deps import Batches, Uow
from aggregator.service_layer import console_views
from dropship_shared.audit import Audit
from dropship_shared.inputs import IDENTIFIER, NO_NUL, StrictBody
from dropship_shared.messaging import Broker
from dropship_shared.problems import problem_responses
from dropship_shared.runtime import ServiceRuntime

router = APIRouter(prefix="/dashboard", tags=["operations console"])
Identifier = Annotated[str, PathParameter(min_length=1, max_length=64, pattern=IDENTIFIER)]
OrderId = Annotated[str, PathParameter(min_length=1, max_length=40, pattern=IDENTIFIER)]
LineNo = Annotated[int, PathParameter(ge=1, le=10_000)]
ServiceName = Literal["orders", "aggregator", "supplier-gateway"]
FORWARDED = problem_responses(404, 409, 422, 502)


class FailureReason(StrictBody):
    reason: str = Field(min_length=1, max_length=300, pattern=NO_NUL)


class ResolutionNote(StrictBody):
    note: str = Field(min_length=1, max_length=1000, pattern=NO_NUL)


class RerouteChoice(StrictBody):
    supplier_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=IDENTIFIER,
        description="the offer to send the line to (even one tried before); absent: the next untried offer",
    )


def peers_of(request: Request) -> PeerServices:
    peers: PeerServices = request.app.state.peers
    return peers


def operator(request: Request) -> str:
    return str(request.state.caller.subject)


async def own_backlog(request: Request) -> dict[str, Any] | None:
    broker: Broker = request.app.state.runtime.broker
    queue: str = request.app.state.queue
    try:
        queued, dead = await broker.queue_depth(queue), await broker.queue_depth(f"{queue}.dlq")
    except Exception:  # the broker is away: the rest of the console still helps
        return None
    runtime: ServiceRuntime = request.app.state.runtime
    try:
        pending: int | None = (await runtime.outbox_lag()).pending
    except Exception:  # the database is away: say so rather than 0
        pending = None
    return {"queue": queue, "queued_events": queued, "dead_letters": dead, "outbox_pending": pending}


@router.get("/overview", summary="Alerts first (suppliers down, exceptions, dead letters, lag, promises), then the day")
async def overview(request: Request, uow: Uow) -> dict[str, Any]:
    return await console_views.overview(uow, peers_of(request), lambda: own_backlog(request))


@router.get("/suppliers", summary="Every supplier's batch against its minimums, with its health at the gateway")
async def suppliers(request: Request, uow: Uow, batches: Batches) -> list[dict[str, Any]]:
    return await console_views.suppliers(uow, batches, peers_of(request))


@router.get(
    "/suppliers/{supplier_id}",
    summary="One supplier: batch, waiting lines, policy history, health, POs",
    responses=problem_responses(404),
)
async def supplier(supplier_id: Identifier, request: Request, uow: Uow, batches: Batches) -> dict[str, Any]:
    found = await console_views.supplier(uow, batches, peers_of(request), supplier_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown supplier {supplier_id!r}")
    return found


@router.get(
    "/purchase-orders",
    summary="POs with their state, by state and supplier, or found by PO, email, order, SKU",
    responses=problem_responses(422),
)
async def purchase_orders(
    request: Request,
    uow: Uow,
    q: Annotated[str, Query(max_length=254, pattern=NO_NUL)] = "",
    state: Annotated[str | None, Query(max_length=32, pattern=IDENTIFIER)] = None,
    supplier_id: Annotated[str | None, Query(max_length=64, pattern=IDENTIFIER)] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> dict[str, Any]:
    try:
        return await console_views.purchase_orders(uow, peers_of(request), q, state, supplier_id, page)
    except PeerRefused as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=exc.detail) from exc


@router.get(
    "/purchase-orders/{po_number}",
    summary="One PO: lines and the customer lines they serve, history, attempts, shipments, documents",
    responses=problem_responses(404),
)
async def purchase_order(po_number: Identifier, request: Request, uow: Uow) -> dict[str, Any]:
    found = await console_views.purchase_order(uow, peers_of(request), po_number)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown purchase order {po_number!r}")
    return found


@router.get(
    "/exceptions", summary="The exceptions inbox, with who resolved each", responses=problem_responses(422, 502)
)
async def exceptions(
    request: Request,
    open: bool = True,
    kind: Annotated[str | None, Query(max_length=40, pattern=IDENTIFIER)] = None,
    supplier_id: Annotated[str | None, Query(max_length=64, pattern=IDENTIFIER)] = None,
) -> list[dict[str, Any]]:
    try:
        found = await console_views.exceptions(peers_of(request), open, kind, supplier_id)
    except PeerRefused as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=exc.detail) from exc
    if found is None:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, detail="the supplier gateway did not answer")
    return list(found)


@router.get(
    "/customers-at-risk",
    summary="Customer lines past or near their promised date, with the messages already sent",
    responses=problem_responses(502),
)
async def customers_at_risk(
    request: Request, uow: Uow, batches: Batches, within_days: Annotated[int, Query(ge=0, le=60)] = 2
) -> list[dict[str, Any]]:
    found = await console_views.customers_at_risk(uow, batches, peers_of(request), within_days)
    if found is None:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, detail="the orders service did not answer")
    return list(found)


@router.get(
    "/lines-awaiting-operator",
    summary="Customer lines refused by their supplier, waiting for an operator, with the offers and their numbers",
    responses=problem_responses(502),
)
async def lines_awaiting_operator(request: Request) -> list[dict[str, Any]]:
    found = await console_views.lines_awaiting_operator(peers_of(request))
    if found is None:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, detail="the orders service did not answer")
    return found


@router.post(
    "/order-lines/{order_id}/{line_no}/reroute",
    summary="Send a line waiting for an operator to the next untried offer, or to the supplier named",
    responses=FORWARDED,
)
async def reroute_line(order_id: OrderId, line_no: LineNo, choice: RerouteChoice, request: Request) -> Response:
    body = choice.model_dump(exclude_none=True)
    return await _forward(request, ORDERS, f"/order-lines/{order_id}/{line_no}/reroute", body)


@router.post(
    "/order-lines/{order_id}/{line_no}/reject",
    summary="Reject a line waiting for an operator (its money released, the customer told the reason)",
    responses=FORWARDED,
)
async def reject_line(order_id: OrderId, line_no: LineNo, rejection: FailureReason, request: Request) -> Response:
    return await _forward(request, ORDERS, f"/order-lines/{order_id}/{line_no}/reject", rejection.model_dump())


@router.get("/dead-letters", summary="Every service's dead letters with the reason (None: it did not answer)")
async def dead_letters(request: Request) -> dict[str, Any]:
    broker: Broker = request.app.state.runtime.broker
    queue: str = request.app.state.queue
    peers = peers_of(request)
    try:
        own: dict[str, Any] | None = {
            "queue": f"{queue}.dlq",
            "messages": [asdict(letter) for letter in await broker.dead_letters(queue, 100)],
        }
    except Exception:  # the broker is away
        own = None
    return {
        ORDERS: await peers.read(ORDERS, "/admin/dead-letters", {"limit": 100}),
        "aggregator": own,
        GATEWAY: await peers.read(GATEWAY, "/admin/dead-letters", {"limit": 100}),
    }


@router.post(
    "/dead-letters/{service_name}/replay",
    summary="Publish a service's dead letters again (after the fix)",
    responses=FORWARDED,
)
async def replay_dead_letters(service_name: ServiceName, request: Request, audit: Audit) -> Response:
    if service_name == "aggregator":
        broker: Broker = request.app.state.runtime.broker
        queue: str = request.app.state.queue
        try:
            replayed = await broker.replay_dead_letters(queue)
        except Exception as exc:
            raise HTTPException(status.HTTP_502_BAD_GATEWAY, detail=f"the broker is not reachable: {exc}") from exc
        await audit.record(request, "dead_letters.replay", f"{queue}.dlq", {"replayed": replayed})
        return Response(f'{{"replayed": {replayed}}}', media_type="application/json")
    return await _forward(request, service_name, "/admin/dead-letters/replay")


@router.get("/activity", summary="Who did what, newest first, across the services")
async def activity(request: Request, audit: Audit) -> list[dict[str, Any]]:
    return await console_views.activity(audit, peers_of(request))


@router.post(
    "/purchase-orders/{po_number}/retry",
    summary="Send a failed PO again, or a waiting one now (same PO number)",
    responses=FORWARDED,
)
async def retry_purchase_order(po_number: Identifier, request: Request) -> Response:
    return await _forward(request, GATEWAY, f"/purchase-orders/{po_number}/retry")


@router.post(
    "/purchase-orders/{po_number}/fail",
    summary="Give up on a PO not yet placed (the customers are told)",
    responses=FORWARDED,
)
async def fail_purchase_order(po_number: Identifier, failure: FailureReason, request: Request) -> Response:
    return await _forward(request, GATEWAY, f"/purchase-orders/{po_number}/fail", failure.model_dump())


@router.post(
    "/purchase-orders/{po_number}/cancel",
    summary="Cancel a PO still waiting to reach its supplier (the customers are told)",
    responses=FORWARDED,
)
async def cancel_purchase_order(po_number: Identifier, cancellation: FailureReason, request: Request) -> Response:
    return await _forward(request, GATEWAY, f"/purchase-orders/{po_number}/cancel", cancellation.model_dump())


@router.post(
    "/suppliers/{supplier_id}/send-now",
    summary="Try every PO waiting for this supplier now (it is back)",
    responses=FORWARDED,
)
async def send_waiting_now(supplier_id: Identifier, request: Request) -> Response:
    return await _forward(request, GATEWAY, f"/suppliers/{supplier_id}/send-now")


@router.post(
    "/exceptions/{exception_id}/resolve",
    summary="Resolve an open exception with a note",
    responses=FORWARDED,
)
async def resolve_exception(exception_id: Identifier, resolution: ResolutionNote, request: Request) -> Response:
    return await _forward(request, GATEWAY, f"/exceptions/{exception_id}/resolve", resolution.model_dump())


async def _forward(request: Request, service: str, path: str, body: Any = None) -> Response:
    """The other service's own answer, content type included (a refusal is a problem+json there too)."""
    try:
        answer = await peers_of(request).call(service, "POST", path, body=body, on_behalf_of=operator(request))
    except PeerUnavailable as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, detail=str(exc)) from exc
    if answer.status_code >= 500 or answer.status_code in (401, 403):
        # our own credential failed or the service broke: that is a bad gateway for the operator
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, detail=f"{service} answered {answer.status_code}")
    return Response(answer.content, status_code=answer.status_code, media_type=answer.headers.get("content-type"))


class UnchangedViews:
    """Conditional GETs for the console's views: each JSON answer carries an ETag (a hash of its body) and a
    request whose If-None-Match names it gets a bodiless 304, so an open console refetching every few seconds
    moves and redraws only what changed."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not scope["path"].startswith("/dashboard/"):
            await self._app(scope, receive, send)
            return
        start: Message | None = None
        body = bytearray()

        async def buffer(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            assert start is not None
            headers = MutableHeaders(raw=list(start["headers"]))
            if start["status"] != 200 or not headers.get("content-type", "").startswith("application/json"):
                await send(start)
                await send({"type": "http.response.body", "body": bytes(body)})
                return
            tag = f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'
            headers["ETag"] = tag
            headers["Cache-Control"] = "no-cache"
            if tag in Headers(scope=scope).get("if-none-match", ""):
                del headers["content-length"]
                del headers["content-type"]
                await send({**start, "status": 304, "headers": headers.raw})
                await send({"type": "http.response.body", "body": b""})
                return
            await send({**start, "headers": headers.raw})
            await send({"type": "http.response.body", "body": bytes(body)})

        await self._app(scope, receive, buffer)
