"""Suppliers' health for operations (circuit, last error, POs waiting and refused) and sending a supplier's
waiting POs now, once it is back."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel

from dropship_shared.audit import Audit
from supplier_gateway.adapters.http_supplier import HttpSupplierClient
from supplier_gateway.entrypoints.deps import Uow
from supplier_gateway.service_layer.dispatcher import PurchaseOrderDispatcher
from supplier_gateway.service_layer.supplier_health import send_waiting_now, supplier_health

router = APIRouter(tags=["supplier health"])
SupplierId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class SupplierHealthOut(BaseModel):
    supplier_id: str
    name: str
    protocol: str | None
    registered: bool
    active: bool
    condition: str  # ok, down, refusing, on_hold
    circuit: str  # closed, open, half_open
    last_error: str | None
    last_error_at: datetime | None
    last_success_at: datetime | None
    waiting_purchase_orders: int
    oldest_waiting_since: datetime | None
    failed_purchase_orders: int
    open_exceptions: int


class SentNow(BaseModel):
    supplier_id: str
    waiting_purchase_orders: int


@router.get("/supplier-health", summary="Every supplier's circuit, last error, POs waiting for it and refused by it")
async def list_supplier_health(request: Request, uow: Uow) -> list[SupplierHealthOut]:
    client: HttpSupplierClient = request.app.state.suppliers_client
    dispatcher: PurchaseOrderDispatcher = request.app.state.dispatcher
    found = await supplier_health(uow, lambda supplier_id: client.breaker_state(supplier_id).value, dispatcher.calls)
    return [SupplierHealthOut.model_validate(asdict(health)) for health in found]


@router.post(
    "/suppliers/{supplier_id}/send-now",
    summary="Try every PO waiting for this supplier now (its circuit closed again): the supplier is back",
)
async def send_now(supplier_id: SupplierId, request: Request, uow: Uow, audit: Audit) -> SentNow:
    client: HttpSupplierClient = request.app.state.suppliers_client
    client.breaker(supplier_id).reset()
    waiting = await send_waiting_now(uow, supplier_id)
    request.app.state.dispatch_ready.set()
    await audit.record(request, "supplier.send_now", supplier_id, {"waiting_purchase_orders": waiting})
    return SentNow(supplier_id=supplier_id, waiting_purchase_orders=waiting)
