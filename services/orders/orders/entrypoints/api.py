"""The orders HTTP API: catalog, order intake, reading and cancelling (thin: translate and delegate)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response, status

from dropship_shared.web import correlation_id_of
from orders.domain.model import OrderError, RequestedLine, UnknownSku
from orders.entrypoints.schemas import OrderIn, OrderOut, ProductIn, ProductOut
from orders.service_layer import handlers
from orders.service_layer.handlers import OrderNotFound, UnitOfWorkFactory

router = APIRouter()


def uow_factory(request: Request) -> UnitOfWorkFactory:
    factory: UnitOfWorkFactory = request.app.state.uow_factory
    return factory


Uow = Annotated[UnitOfWorkFactory, Depends(uow_factory)]


@router.put("/products", tags=["catalog"], summary="Create or update catalog products (SKU → supplier, cost, stock)")
async def put_products(items: list[ProductIn], uow: Uow) -> dict[str, int]:
    await handlers.upsert_products(uow, [item.to_domain() for item in items])
    return {"upserted": len(items)}


@router.get("/products/{sku}", tags=["catalog"])
async def get_product(sku: str, uow: Uow) -> ProductOut:
    async with uow() as unit:
        product = await unit.products.get(sku)
    if product is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown SKU {sku!r}")
    return ProductOut.of(product)


@router.post(
    "/orders",
    tags=["orders"],
    status_code=status.HTTP_201_CREATED,
    summary="Place an order: stock is allocated, shortfalls become backorders",
    responses={200: {"description": "The Idempotency-Key named an order placed before"}},
)
async def post_order(
    body: OrderIn,
    request: Request,
    response: Response,
    uow: Uow,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> OrderOut:
    command = handlers.PlaceOrder(
        customer_email=str(body.customer_email),
        ship_to=body.ship_to,
        lines=[RequestedLine(line.sku, line.quantity) for line in body.lines],
        idempotency_key=idempotency_key,
    )
    try:
        placed = await handlers.place_order(uow, command, correlation_id_of(request))
    except UnknownSku as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[{"loc": ["body", "lines", "sku"], "msg": str(exc), "type": "unknown_sku", "skus": exc.skus}],
        ) from exc
    if not placed.created:
        response.status_code = status.HTTP_200_OK
    return OrderOut.of(placed.order)


@router.get("/orders/{order_id}", tags=["orders"])
async def get_order(order_id: str, uow: Uow) -> OrderOut:
    try:
        return OrderOut.of(await handlers.get_order(uow, order_id))
    except OrderNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc


@router.post("/orders/{order_id}/lines/{line_no}/cancel", tags=["orders"], summary="Cancel a backordered line")
async def cancel_line(order_id: str, line_no: int, request: Request, uow: Uow) -> OrderOut:
    try:
        order = await handlers.cancel_line(uow, order_id, line_no, correlation_id_of(request))
    except OrderNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except OrderError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return OrderOut.of(order)
