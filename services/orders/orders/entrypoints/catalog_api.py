"""The catalog API: products (SKU → supplier, cost, stock, lead time) and what the storefront shows about them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from dropship_shared.audit import Audit
from dropship_shared.problems import excerpt, problem_responses
from orders.domain.model import Product
from orders.entrypoints.deps import ReadUow, Rules, Uow
from orders.entrypoints.schemas import AvailabilityOut, ProductIn, ProductOut
from orders.service_layer import handlers, views

router = APIRouter(tags=["catalog"])
MAX_CATALOG_BYTES = 5_000_000  # about 25,000 products a request; a bigger catalog comes in several requests
VALIDATION_SLICE = 500  # products validated between two turns of the event loop
_SLICE = TypeAdapter(list[ProductIn])


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
