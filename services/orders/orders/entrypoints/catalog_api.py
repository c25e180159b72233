"""The catalog API: products (SKU → supplier, cost, stock, lead time) and what the storefront shows about them."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from dropship_shared.audit import Audit
from dropship_shared.inputs import IDENTIFIER
from dropship_shared.problems import excerpt, problem_responses
from dropship_shared.web import correlation_id_of
from orders.domain.model import Product, UnknownSku
from orders.entrypoints.api import key_of
from orders.entrypoints.deps import ReadUow, Rules, Uow
from orders.entrypoints.schemas import (
    AvailabilityOut,
    OfferIn,
    OfferOut,
    ProductIn,
    ProductOut,
    ReceiptIn,
    ReceiptOut,
)
from orders.service_layer import handlers, offers, views
from orders.service_layer.receiving import Receipt, receive_stock

router = APIRouter(tags=["catalog"])
MAX_CATALOG_BYTES = 5_000_000  # about 25,000 products a request; a bigger catalog comes in several requests
VALIDATION_SLICE = 500  # products validated between two turns of the event loop
_SLICE = TypeAdapter(list[ProductIn])
SupplierId = Annotated[str, Path(min_length=1, max_length=64, pattern=IDENTIFIER)]


@router.put(
    "/products",
    summary="Create or update catalog products (SKU → supplier, cost, stock, lead time), up to 5 MB a request",
    responses=problem_responses(422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "array", "items": ProductIn.model_json_schema()}}},
        }
    },
)
async def put_products(request: Request, uow: Uow, audit: Audit) -> dict[str, int]:
    products = await _read_products(await request.body())
    await handlers.upsert_products(uow, products)
    skus = [product.sku for product in products[:100]]
    await audit.record(request, "catalog.upsert", f"{len(products)} products", {"skus": skus})
    return {"upserted": len(products)}


async def _read_products(raw: bytes) -> list[Product]:
    """The catalog in the body, validated in slices so that a big import leaves the event loop to others."""
    try:
        items: Any = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise RequestValidationError([_body_error("json_invalid", "JSON decode error", raw)]) from exc
    if not isinstance(items, list):
        raise RequestValidationError([_body_error("list_type", "Input should be a valid list", items)])
    products: list[Product] = []
    errors: list[Any] = []
    for start in range(0, len(items), VALIDATION_SLICE):
        try:
            products += [item.to_domain() for item in _SLICE.validate_python(items[start : start + VALIDATION_SLICE])]
        except ValidationError as exc:
            errors += [{**e, "loc": ("body", start + int(e["loc"][0]), *e["loc"][1:])} for e in exc.errors()]
        await asyncio.sleep(0)
    if errors:
        raise RequestValidationError(errors)
    return products


def _body_error(kind: str, message: str, value: Any) -> dict[str, Any]:
    return {"type": kind, "loc": ("body",), "msg": message, "input": excerpt(value)}


@router.get("/products/{sku}", responses=problem_responses(404))
async def get_product(sku: str, uow: ReadUow) -> ProductOut:
    async with uow() as unit:
        product = await unit.products.get(sku)
    if product is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown SKU {sku!r}")
    return ProductOut.of(product)


@router.get(
    "/products/{sku}/availability",
    summary="In stock now, or the expected in-stock and delivery dates of a backorder (for the storefront)",
    responses=problem_responses(404),
)
async def get_availability(sku: str, uow: ReadUow, rules: Rules) -> AvailabilityOut:
    found = await views.availability(uow, sku, rules)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown SKU {sku!r}")
    return AvailabilityOut.model_validate(found, from_attributes=True)


@router.post(
    "/products/{sku}/receipts",
    status_code=status.HTTP_201_CREATED,
    summary="Receive stock into the warehouse: it serves the lines waiting for it first, then new orders",
    responses={
        200: {"model": ReceiptOut, "description": "The Idempotency-Key received this stock before: nothing changed"},
        **problem_responses(400, 404),
    },
)
async def post_receipt(
    sku: str,
    body: ReceiptIn,
    request: Request,
    response: Response,
    uow: Uow,
    rules: Rules,
    audit: Audit,
    idempotency_key: Annotated[
        str | None, Header(description="draft-ietf-httpapi-idempotency-key-header: one receipt per key")
    ] = None,
) -> ReceiptOut:
    key = key_of(idempotency_key) or uuid.uuid4().hex
    receipt = Receipt(sku, body.quantity, f"operator:{key}", "operator", body.po_number)
    try:
        outcome = await receive_stock(uow, receipt, rules, correlation_id_of(request))
    except UnknownSku as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown SKU {sku!r}") from exc
    if outcome.duplicate:
        response.status_code = status.HTTP_200_OK
    else:
        details = {"quantity": body.quantity, "po_number": body.po_number, "served": outcome.served}
        await audit.record(request, "stock.receive", sku, details)
    return ReceiptOut.model_validate(outcome, from_attributes=True)


@router.get(
    "/products/{sku}/offers",
    summary="The suppliers' offers of a product, the preferred first (inactive ones too)",
    responses=problem_responses(404),
)
async def get_offers(sku: str, uow: ReadUow) -> list[OfferOut]:
    try:
        found = await offers.list_offers(uow, sku)
    except UnknownSku as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown SKU {sku!r}") from exc
    return [OfferOut.of(offer) for offer in found]


@router.put(
    "/products/{sku}/offers/{supplier_id}",
    summary="Add or change a supplier's offer of a product (routing picks among the active offers)",
    responses={
        201: {"model": OfferOut, "description": "The offer was added"},
        **problem_responses(404, 409, 422),
    },
)
async def put_offer(
    sku: str, supplier_id: SupplierId, body: OfferIn, request: Request, response: Response, uow: Uow, audit: Audit
) -> OfferOut:
    offer = body.to_domain(sku, supplier_id)
    try:
        created = await offers.put_offer(uow, offer)
    except UnknownSku as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown SKU {sku!r}") from exc
    except offers.LastActiveOffer as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    if created:
        response.status_code = status.HTTP_201_CREATED
    out = OfferOut.of(offer)
    await audit.record(
        request,
        "catalog.offer.add" if created else "catalog.offer.change",
        f"{sku}/{supplier_id}",
        out.model_dump(mode="json"),
    )
    return out


@router.delete(
    "/products/{sku}/offers/{supplier_id}",
    summary="Deactivate a supplier's offer: kept for the lines that name it, never chosen again",
    responses=problem_responses(404, 409),
)
async def delete_offer(sku: str, supplier_id: SupplierId, request: Request, uow: Uow, audit: Audit) -> OfferOut:
    try:
        offer = await offers.deactivate_offer(uow, sku, supplier_id)
    except UnknownSku as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown SKU {sku!r}") from exc
    except offers.OfferNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except offers.LastActiveOffer as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    await audit.record(request, "catalog.offer.deactivate", f"{sku}/{supplier_id}", {})
    return OfferOut.of(offer)
