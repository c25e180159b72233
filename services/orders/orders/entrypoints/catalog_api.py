"""The catalog API: products (SKU → supplier, cost, stock, lead time) and what the storefront shows about them."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from orders.entrypoints.deps import Rules, Uow
from orders.entrypoints.schemas import AvailabilityOut, ProductIn, ProductOut
from orders.service_layer import handlers, views

router = APIRouter(tags=["catalog"])


@router.put("/products", summary="Create or update catalog products (SKU → supplier, cost, stock, lead time)")
async def put_products(items: list[ProductIn], uow: Uow) -> dict[str, int]:
    await handlers.upsert_products(uow, [item.to_domain() for item in items])
    return {"upserted": len(items)}


@router.get("/products/{sku}")
async def get_product(sku: str, uow: Uow) -> ProductOut:
    async with uow() as unit:
        product = await unit.products.get(sku)
    if product is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown SKU {sku!r}")
    return ProductOut.of(product)


@router.get(
    "/products/{sku}/availability",
    summary="In stock now, or the expected in-stock and delivery dates of a backorder (for the storefront)",
)
async def get_availability(sku: str, uow: Uow, rules: Rules) -> AvailabilityOut:
    found = await views.availability(uow, sku, rules)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown SKU {sku!r}")
    return AvailabilityOut.model_validate(found, from_attributes=True)
