"""The aggregator HTTP API: supplier policies, batch visibility, operator commands, released POs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, status

from aggregator.domain.errors import BatchHeldError, PolicyError
from aggregator.entrypoints.deps import Batches, Terms, Uow
from aggregator.entrypoints.schemas import (
    PolicyIn,
    PolicyOut,
    PurchaseOrderOut,
    SupplierIn,
    SupplierStatus,
    policy_out,
)
from aggregator.service_layer import handlers, views
from aggregator.service_layer.handlers import SupplierNotFound
from dropship_shared.audit import Audit
from dropship_shared.problems import problem_responses
from dropship_shared.web import correlation_id_of

router = APIRouter()
SupplierId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
MAX_POLICY_BYTES = 5_000_000  # ten thousand SKU rules with price breaks


def not_found(exc: Exception) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc))


@router.put("/suppliers/{supplier_id}", tags=["suppliers"], summary="Register a supplier (or rename it)")
async def put_supplier(
    supplier_id: SupplierId, body: SupplierIn, request: Request, uow: Uow, batches: Batches, audit: Audit
) -> SupplierStatus:
    await handlers.register_supplier(uow, supplier_id, body.name)
    await audit.record(request, "supplier.register", supplier_id, {"name": body.name})
    found = await views.supplier(uow(), batches, supplier_id)
    assert found is not None
    return found


@router.get("/suppliers", tags=["suppliers"], summary="Every supplier's batch against its minimums")
async def list_suppliers(uow: Uow, batches: Batches) -> list[SupplierStatus]:
    return await views.suppliers(uow(), batches)


@router.get("/suppliers/{supplier_id}", tags=["suppliers"], responses=problem_responses(404))
async def get_supplier(supplier_id: str, uow: Uow, batches: Batches) -> SupplierStatus:
    found = await views.supplier(uow(), batches, supplier_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown supplier {supplier_id!r}")
    return found


@router.get("/suppliers/{supplier_id}/lines", tags=["suppliers"], summary="The backorder lines waiting in the batch")
async def get_pending_lines(supplier_id: str, uow: Uow) -> list[dict[str, Any]]:
    return await views.pending_lines(uow(), supplier_id)


@router.put(
    "/suppliers/{supplier_id}/policy",
    tags=["policies"],
    summary="Set the supplier's batching policy (a new version; applied at once)",
    responses=problem_responses(404),
)
async def put_policy(
    supplier_id: str, body: PolicyIn, request: Request, uow: Uow, batches: Batches, terms: Terms, audit: Audit
) -> PolicyOut:
    data = body.model_dump(mode="json")
    try:
        version = await handlers.set_policy(uow, batches, terms, supplier_id, data)
    except SupplierNotFound as exc:
        raise not_found(exc) from exc
    except PolicyError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[{"loc": ["body", exc.field], "msg": str(exc), "type": "policy_error"}],
        ) from exc
    await audit.record(request, "policy.change", supplier_id, {"version": version, "policy": data})
    return policy_out(data, version)


@router.get("/suppliers/{supplier_id}/policy", tags=["policies"], responses=problem_responses(404))
async def get_policy(supplier_id: str, uow_factory: Uow) -> PolicyOut:
    async with uow_factory() as uow:
        record = await uow.suppliers.get(supplier_id)
    if record is None or record.policy is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no policy for supplier {supplier_id!r}")
    return policy_out(record.policy, record.policy_version)


@router.get("/suppliers/{supplier_id}/policy/versions", tags=["policies"])
async def get_policy_versions(supplier_id: str, uow_factory: Uow) -> list[PolicyOut]:
    async with uow_factory() as uow:
        versions = await uow.suppliers.policy_versions(supplier_id)
    return [policy_out(row["policy"], row["version"]) for row in versions]


@router.post(
    "/suppliers/{supplier_id}/release",
    tags=["operations"],
    summary="Release the batch now",
    responses=problem_responses(404, 409),
)
async def release(
    supplier_id: str, request: Request, uow: Uow, batches: Batches, terms: Terms, audit: Audit
) -> dict[str, list[str]]:
    try:
        po_numbers = await handlers.release_now(uow, batches, terms, supplier_id, correlation_id_of(request))
    except SupplierNotFound as exc:
        raise not_found(exc) from exc
    except BatchHeldError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    await audit.record(request, "batch.release", supplier_id, {"purchase_orders": po_numbers})
    return {"purchase_orders": po_numbers}


@router.post(
    "/suppliers/{supplier_id}/hold",
    tags=["operations"],
    summary="Release nothing until resumed",
    responses=problem_responses(404),
)
async def hold(
    supplier_id: str, request: Request, uow: Uow, batches: Batches, terms: Terms, audit: Audit
) -> SupplierStatus:
    return await _set_held(supplier_id, True, request, uow, batches, terms, audit)


@router.post("/suppliers/{supplier_id}/resume", tags=["operations"], responses=problem_responses(404))
async def resume(
    supplier_id: str, request: Request, uow: Uow, batches: Batches, terms: Terms, audit: Audit
) -> SupplierStatus:
    return await _set_held(supplier_id, False, request, uow, batches, terms, audit)


async def _set_held(
    supplier_id: str, held: bool, request: Request, uow: Uow, batches: Batches, terms: Terms, audit: Audit
) -> SupplierStatus:
    try:
        await handlers.set_held(uow, batches, terms, supplier_id, held)
    except SupplierNotFound as exc:
        raise not_found(exc) from exc
    await audit.record(request, "batch.hold" if held else "batch.resume", supplier_id)
    return await get_supplier(supplier_id, uow, batches)


@router.get("/purchase-orders", tags=["purchase orders"], summary="Released purchase orders, newest first")
async def list_purchase_orders(
    uow_factory: Uow,
    supplier_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[PurchaseOrderOut]:
    async with uow_factory() as uow:
        rows = await uow.purchase_orders.page(supplier_id, limit, offset)
    return [PurchaseOrderOut.model_validate(row) for row in rows]


@router.get(
    "/purchase-orders/{po_number}",
    tags=["purchase orders"],
    summary="A PO with the customer line each serves",
    responses=problem_responses(404),
)
async def get_purchase_order(po_number: str, uow_factory: Uow) -> PurchaseOrderOut:
    async with uow_factory() as uow:
        found = await uow.purchase_orders.get(po_number)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown purchase order {po_number!r}")
    return PurchaseOrderOut.model_validate(found)
