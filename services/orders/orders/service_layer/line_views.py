"""Operations' views of customer lines: finding lines by customer, SKU, order, PO or supplier, and the lines
whose promised date is past or near (customers at risk) with the messages those customers were already sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from dropship_shared.events import utcnow
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.adapters.orm import notifications, order_lines, orders, shipments
from orders.domain.lifecycle import WAITING
from orders.service_layer.unit_of_work import OrdersUnitOfWork


@dataclass(frozen=True)
class LineFilter:
    customer_email: str | None = None
    sku: str | None = None
    order_id: str | None = None
    po_number: str | None = None
    supplier_id: str | None = None
    limit: int = 100
    offset: int = 0
    awaits_operator: bool | None = None  # True: only the lines refused by their supplier, waiting for an operator


@dataclass(frozen=True)
class SentMessage:
    kind: str
    channel: str
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class LineShipment:
    shipment_id: str
    quantity: int
    carrier: str
    tracking_number: str
    shipped_at: datetime


@dataclass(frozen=True)
class CustomerLine:
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
    routing: dict[str, Any] | None = None  # the latest routing decision, its alternatives and numbers
    tried_suppliers: list[str] | None = None
    awaits_operator: bool = False  # refused by its supplier: waits for an operator to re-route or reject it
    days_to_promise: int | None = None  # negative: the promise has slipped by that many days
    messages: list[SentMessage] = field(default_factory=list)
    shipments: list[LineShipment] = field(default_factory=list)


def _lines() -> Any:
    return select(
        order_lines.c.order_id,
        order_lines.c.line_no,
        orders.c.customer_email,
        orders.c.placed_at,
        order_lines.c.sku,
        order_lines.c.quantity,
        order_lines.c.backordered_qty,
        order_lines.c.status,
        order_lines.c.status_reason,
        order_lines.c.supplier_id,
        order_lines.c.po_number,
        order_lines.c.promised_date,
        order_lines.c.routing,
        order_lines.c.tried_suppliers,
        order_lines.c.awaits_operator,
    ).join(orders, orders.c.order_id == order_lines.c.order_id)


async def find_lines(uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], where: LineFilter) -> list[CustomerLine]:
    """Newest orders first; the customer's email matches without regard to case."""
    query = _lines().order_by(orders.c.placed_at.desc(), order_lines.c.order_id, order_lines.c.line_no)
    if where.customer_email:
        query = query.where(func.lower(orders.c.customer_email) == where.customer_email.strip().lower())
    for column, value in (
        (order_lines.c.sku, where.sku),
        (order_lines.c.order_id, where.order_id),
        (order_lines.c.po_number, where.po_number),
        (order_lines.c.supplier_id, where.supplier_id),
    ):
        if value:
            query = query.where(column == value)
    if where.awaits_operator is not None:
        query = query.where(order_lines.c.awaits_operator.is_(where.awaits_operator))
    async with uow_factory() as uow:
        rows = (await uow.session.execute(query.limit(where.limit).offset(where.offset))).mappings().all()
        order_ids = sorted({row["order_id"] for row in rows})
        shipped = (
            (
                await uow.session.execute(
                    select(shipments).where(shipments.c.order_id.in_(order_ids)).order_by(shipments.c.id)
                )
            )
            .mappings()
            .all()
            if order_ids
            else []
        )
    return [
        CustomerLine(
            **row,
            shipments=[
                LineShipment(s["shipment_id"], s["quantity"], s["carrier"], s["tracking_number"], s["shipped_at"])
                for s in shipped
                if (s["order_id"], s["line_no"]) == (row["order_id"], row["line_no"])
            ],
        )
        for row in rows
    ]


async def lines_at_risk(
    uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], within_days: int, limit: int
) -> list[CustomerLine]:
    """Lines still waiting for their goods whose promised date is past or within `within_days`, most late first."""
    today = utcnow().date()
    query = (
        _lines()
        .where(
            order_lines.c.status.in_([status.value for status in WAITING]),
            order_lines.c.promised_date.is_not(None),
            order_lines.c.promised_date <= today + timedelta(days=within_days),
        )
        .order_by(order_lines.c.promised_date, order_lines.c.order_id, order_lines.c.line_no)
        .limit(limit)
    )
    async with uow_factory() as uow:
        rows = (await uow.session.execute(query)).mappings().all()
        order_ids = sorted({row["order_id"] for row in rows})
        sent = (
            (
                await uow.session.execute(
                    select(
                        notifications.c.order_id,
                        notifications.c.line_no,
                        notifications.c.kind,
                        notifications.c.channel,
                        notifications.c.created_at,
                        notifications.c.sent_at,
                    )
                    .where(notifications.c.order_id.in_(order_ids))
                    .order_by(notifications.c.created_at, notifications.c.id)
                )
            )
            .mappings()
            .all()
            if order_ids
            else []
        )
    found = []
    for row in rows:
        messages = [
            SentMessage(m["kind"], m["channel"], m["created_at"], m["sent_at"])
            for m in sent
            if m["order_id"] == row["order_id"] and m["line_no"] in (None, row["line_no"])
        ]
        days = (row["promised_date"] - today).days
        found.append(CustomerLine(**row, days_to_promise=days, messages=messages))
    return found
