"""The orders HTTP API: intake, reading, history, payments, messages, cancelling and delivery."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated

from fastapi import APIRouter, Body, FastAPI, HTTPException, Path, Request, Response, status
from pydantic import TypeAdapter

from dropship_shared.problems import problem_responses
from dropship_shared.web import correlation_id_of
from orders.domain.model import LineNotFound, Order, OrderError, RequestedLine, UnknownSku
from orders.entrypoints.deps import ReadUow, Uow, intake_of
from orders.entrypoints.intake_route import IntakeRoute
from orders.entrypoints.schemas import DeliveryIn, MessageOut, OrderHistoryOut, OrderIn, OrderOut, PaymentsOut
from orders.service_layer import handlers, views
from orders.service_layer.handlers import OrderNotFound

router = APIRouter(tags=["orders"])
LineNo = Annotated[int, Path(ge=1, le=10_000)]
MAX_IDEMPOTENCY_KEY = 200  # the column's width
IDEMPOTENCY_KEY = "idempotency-key"
_IDEMPOTENCY_KEY_DESCRIPTION = "draft-ietf-httpapi-idempotency-key-header: one order per key"
IDEMPOTENCY_KEY_PARAMETER = {
    "name": IDEMPOTENCY_KEY,
    "in": "header",
    "required": False,
    "schema": {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "description": _IDEMPOTENCY_KEY_DESCRIPTION,
        "title": "Idempotency-Key",
    },
    "description": _IDEMPOTENCY_KEY_DESCRIPTION,
}
"""POST /orders reads its Idempotency-Key from the request's headers and documents it as FastAPI documents an
optional str `Header` parameter (tests/unit/orders/test_order_answer.py): as such a parameter it cost FastAPI a
header pass and a validation per request."""


async def post_order(body: OrderIn, request: Request) -> Response:
    command = handlers.PlaceOrder(
        customer_email=str(body.customer_email),
        ship_to=body.ship_to,
        lines=[RequestedLine(line.sku, line.quantity) for line in body.lines],
        idempotency_key=key_of(request.headers.get(IDEMPOTENCY_KEY)),
    )
    try:
        placed = await intake_of(request).place(command, correlation_id_of(request))
    except UnknownSku as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[{"loc": ["body", "lines", "sku"], "msg": str(exc), "type": "unknown_sku", "skus": exc.skus}],
        ) from exc
    except handlers.IdempotencyKeyInProgress as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc), headers={"Retry-After": "1"}) from exc
    except OrderError as exc:  # the key placed another order; the total is over what the ledger holds
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    return order_answer(placed.order, status.HTTP_201_CREATED if placed.created else status.HTTP_200_OK)


def install_intake_route(app: FastAPI) -> None:
    """POST /orders, the hottest route, on its own handler (`IntakeRoute`), straight on the app's router: a route of
    an included router is matched twice per request through the inclusion's context (FastAPI 0.16x), some 100
    Python calls of the route's 420; call it before the other routes are included, so it is tried first."""
    app.router.add_api_route(
        "/orders",
        post_order,
        methods=["POST"],
        route_class_override=IntakeRoute,
        tags=["orders"],
        status_code=status.HTTP_201_CREATED,
        response_model=OrderOut,
        summary="Place an order: stock is allocated, shortfalls become backorders with a promised date",
        responses={
            200: {
                "model": OrderOut,
                "description": "The Idempotency-Key named an order placed before with this request",
            },
            400: {"description": "The Idempotency-Key is empty or longer than 200 characters"},
            409: {"description": "An order with this Idempotency-Key is still being placed: retry"},
            422: {"description": "The request is not valid, or the Idempotency-Key placed a different order"},
        },
        openapi_extra={"parameters": [IDEMPOTENCY_KEY_PARAMETER]},
    )


ORDER_JSON = TypeAdapter(OrderOut)


def order_answer(order: Order, status_code: int) -> Response:
    """The order as FastAPI answers an `OrderOut` (the same bytes and headers), without FastAPI validating again
    what `OrderOut.of` built nor its pass through the response model."""
    return Response(ORDER_JSON.dump_json(OrderOut.of(order)), status_code, media_type="application/json")


def key_of(header: str | None) -> str | None:
    """The Idempotency-Key (a structured-field string, quoted or bare); empty or over-long is a 400."""
    if header is None:
        return None
    key = header.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail=f"Idempotency-Key must have 1 to {MAX_IDEMPOTENCY_KEY} characters"
        )
    return key


async def changed(change: Awaitable[Order]) -> Order:
    """The changed order; no such order or line is a 404, any other refusal a 409."""
    try:
        return await change
    except (OrderNotFound, LineNotFound) as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except OrderError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc


async def _answer(change: Awaitable[Order]) -> OrderOut:
    return OrderOut.of(await changed(change))


@router.get("/orders/{order_id}", responses=problem_responses(404))
async def get_order(order_id: str, uow: ReadUow) -> OrderOut:
    return await _answer(handlers.get_order(uow, order_id, history=False))


@router.get(
    "/orders/{order_id}/history",
    summary="Every line's status transitions and promised-date history",
    responses=problem_responses(404),
)
async def get_history(order_id: str, uow: ReadUow) -> OrderHistoryOut:
    try:
        return OrderHistoryOut.of(await handlers.get_order(uow, order_id))
    except OrderNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc


@router.get(
    "/orders/{order_id}/payments",
    summary="Authorized, captured and released; captured + released = authorized",
    responses=problem_responses(404),
)
async def get_payments(order_id: str, uow: ReadUow) -> PaymentsOut:
    try:
        totals = await views.payments(uow, order_id)
    except OrderNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    return PaymentsOut(
        order_id=order_id,
        currency=totals.currency,
        authorized=totals.authorized,
        captured=totals.captured,
        released=totals.released,
        outstanding=totals.outstanding,
        reconciled=totals.reconciled,
    )


@router.get("/orders/{order_id}/messages", summary="The customer messages queued and sent for this order")
async def get_messages(order_id: str, uow: ReadUow) -> list[MessageOut]:
    return [MessageOut.model_validate(row) for row in await views.messages(uow, order_id)]


@router.post(
    "/orders/{order_id}/cancel",
    summary="Cancel every line still waiting: at once before its PO, else by asking the supplier",
    responses=problem_responses(404, 409),
)
async def cancel_order(order_id: str, request: Request, uow: Uow) -> OrderOut:
    return await _answer(handlers.cancel_order(uow, order_id, correlation_id_of(request)))


@router.post(
    "/orders/{order_id}/lines/{line_no}/cancel",
    summary="Cancel a line: at once before its PO, else by asking the supplier (cancel_requested meanwhile)",
    responses=problem_responses(404, 409),
)
async def cancel_line(order_id: str, line_no: LineNo, request: Request, uow: Uow) -> OrderOut:
    return await _answer(handlers.cancel_line(uow, order_id, line_no, correlation_id_of(request)))


@router.post(
    "/orders/{order_id}/lines/{line_no}/delivered",
    summary="Confirm delivery (customer, carrier webhook)",
    responses=problem_responses(404, 409),
)
async def confirm_delivery(
    order_id: str, line_no: LineNo, request: Request, uow: Uow, body: Annotated[DeliveryIn | None, Body()] = None
) -> OrderOut:
    source = (body or DeliveryIn()).source
    return await _answer(handlers.confirm_delivery(uow, order_id, line_no, source, correlation_id_of(request)))
