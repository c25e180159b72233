"""Customer lines for operations: search by customer, SKU, order, PO or supplier; the customers at risk."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from orders.entrypoints.deps import ReadUow
from orders.service_layer.line_views import LineFilter, find_lines, lines_at_risk

router = APIRouter(prefix="/order-lines", tags=["operations"])


class SentMessageOut(BaseModel):
    kind: str
    channel: str
    created_at: datetime
    sent_at: datetime | None


class LineShipmentOut(BaseModel):
    shipment_id: str
    quantity: int
    carrier: str
    tracking_number: str
    shipped_at: datetime


class CustomerLineOut(BaseModel):
    order_id: str
    line_no: int
    customer_email: str
    placed_at: datetime
    sku: str
    quantity: int
    backordered_qty: int
    status: str
    status_reason: str | None
    supplier_id: str | None
    po_number: str | None
    promised_date: date | None
    days_to_promise: int | None = None
    messages: list[SentMessageOut] = []
    shipments: list[LineShipmentOut] = []


@router.get("", summary="Customer lines, newest orders first, by customer email, SKU, order, PO or supplier")
async def search_lines(
    uow: ReadUow,
    customer_email: Annotated[str | None, Query(max_length=254)] = None,
    sku: Annotated[str | None, Query(max_length=64)] = None,
    order_id: Annotated[str | None, Query(max_length=40)] = None,
    po_number: Annotated[str | None, Query(max_length=64)] = None,
    supplier_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[CustomerLineOut]:
    where = LineFilter(customer_email, sku, order_id, po_number, supplier_id, limit, offset)
    return [CustomerLineOut.model_validate(asdict(line)) for line in await find_lines(uow, where)]


@router.get(
    "/at-risk",
    summary="Lines still waiting whose promised date is past or within `within_days`, with the messages sent",
)
async def at_risk(
    uow: ReadUow,
    within_days: Annotated[int, Query(ge=0, le=60)] = 2,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[CustomerLineOut]:
    return [CustomerLineOut.model_validate(asdict(line)) for line in await lines_at_risk(uow, within_days, limit)]
