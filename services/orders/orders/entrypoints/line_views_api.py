"""Customer lines for operations: search by customer, SKU, order, PO or supplier; the customers at risk."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from dropship_shared.audit import Audit
from dropship_shared.inputs import IDENTIFIER, NO_NUL, StrictBody
from dropship_shared.problems import problem_responses
from dropship_shared.web import correlation_id_of
from orders.entrypoints.api import LineNo, changed
from orders.entrypoints.deps import ReadUow, Rules, Uow
from orders.entrypoints.schemas import OrderLineOut
from orders.service_layer import handlers
from orders.service_layer.line_views import LineFilter, find_lines, lines_at_risk

router = APIRouter(prefix="/order-lines", tags=["operations"])
OrderId = Annotated[str, Path(min_length=1, max_length=40, pattern=IDENTIFIER)]


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
    routing: dict[str, Any] | None = None
    tried_suppliers: list[str] | None = None
    awaits_operator: bool = False
    days_to_promise: int | None = None
    messages: list[SentMessageOut] = []
    shipments: list[LineShipmentOut] = []


@router.get(
    "",
    summary="Customer lines, newest orders first, by customer email, SKU, order, PO or supplier, or those waiting "
    "for an operator (awaits_operator=true)",
)
async def search_lines(
    uow: ReadUow,
    customer_email: Annotated[str | None, Query(max_length=254)] = None,
    sku: Annotated[str | None, Query(max_length=64)] = None,
    order_id: Annotated[str | None, Query(max_length=40)] = None,
    po_number: Annotated[str | None, Query(max_length=64)] = None,
    supplier_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    awaits_operator: bool | None = None,
) -> list[CustomerLineOut]:
    where = LineFilter(customer_email, sku, order_id, po_number, supplier_id, limit, offset, awaits_operator)
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


class RerouteIn(StrictBody):
    supplier_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=IDENTIFIER,
        description="the offer to send the line to (even one tried before); absent: the next untried one",
    )


class RejectIn(StrictBody):
    reason: str = Field(min_length=1, max_length=300, pattern=NO_NUL, description="told to the customer")


@router.post(
    "/{order_id}/{line_no}/reroute",
    summary="Send a line waiting for an operator (refused by its supplier) to another offer",
    responses=problem_responses(404, 409),
)
async def reroute(
    order_id: OrderId, line_no: LineNo, body: RerouteIn, request: Request, uow: Uow, rules: Rules, audit: Audit
) -> OrderLineOut:
    order = await changed(
        handlers.reroute_line(uow, order_id, line_no, correlation_id_of(request), rules, body.supplier_id)
    )
    line = order.line(line_no)
    await audit.record(
        request,
        "line.reroute",
        line.backorder_line_id(order_id),
        {"supplier_id": line.supplier_id, "asked": body.supplier_id},
    )
    return OrderLineOut.of(order_id, line)


@router.post(
    "/{order_id}/{line_no}/reject",
    summary="Reject a line waiting for an operator (refused by its supplier): its money released, the customer told",
    responses=problem_responses(404, 409),
)
async def reject(
    order_id: OrderId, line_no: LineNo, body: RejectIn, request: Request, uow: Uow, audit: Audit
) -> OrderLineOut:
    order = await changed(handlers.reject_line(uow, order_id, line_no, body.reason, correlation_id_of(request)))
    line = order.line(line_no)
    await audit.record(request, "line.reject", line.backorder_line_id(order_id), {"reason": body.reason})
    return OrderLineOut.of(order_id, line)
