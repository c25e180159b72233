"""The supplier registry API: who our suppliers are and how to talk to them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status

from dropship_shared.audit import Audit
from dropship_shared.problems import problem_responses
from supplier_gateway.entrypoints.deps import Uow
from supplier_gateway.entrypoints.schemas import SupplierIn, SupplierOut
from supplier_gateway.service_layer import handlers
from supplier_gateway.service_layer.errors import SupplierNotFound

router = APIRouter(prefix="/suppliers", tags=["suppliers"])
SupplierId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


@router.put("/{supplier_id}", summary="Register or update a supplier (protocol, endpoint, signing secret, X12 ids)")
async def put_supplier(
    supplier_id: SupplierId, body: SupplierIn, request: Request, uow: Uow, audit: Audit
) -> SupplierOut:
    registered = await handlers.register_supplier(uow, body.to_domain(supplier_id))
    request.app.state.dispatch_ready.set()
    details = {
        "protocol": registered.protocol,
        "active": registered.active,
        "give_up_attempts": registered.give_up_attempts,
        "give_up_seconds": registered.give_up_seconds,
    }
    await audit.record(request, "supplier.register", supplier_id, details)
    return SupplierOut.of(registered)


@router.get("", summary="All registered suppliers")
async def list_suppliers(uow: Uow) -> list[SupplierOut]:
    return [SupplierOut.of(supplier) for supplier in await handlers.list_suppliers(uow)]


@router.get("/{supplier_id}", responses=problem_responses(404))
async def get_supplier(supplier_id: SupplierId, uow: Uow) -> SupplierOut:
    try:
        return SupplierOut.of(await handlers.get_supplier(uow, supplier_id))
    except SupplierNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
