"""Read models for the API: payments, customer messages, product availability and the backorder figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, literal, select

from dropship_shared.events import utcnow
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.adapters.orm import consolation_credits, line_promises, line_transitions, order_lines, orders, products
from orders.domain.backorder_figures import BackorderFigures, LineFacts, backorder_figures
from orders.domain.lifecycle import LineStatus
from orders.domain.promise import PromiseRules, delivery_after_release, delivery_after_ship_date, expected_release
from orders.service_layer.handlers import OrderNotFound, load_sourcing
from orders.service_layer.ports import PaymentTotals
from orders.service_layer.unit_of_work import OrdersUnitOfWork


async def payments(uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], order_id: str) -> PaymentTotals:
    """The order's payment totals; the order is read as GET /orders/{id} reads it (one statement), not loaded
    with its lines' history as for a change (six)."""
    async with uow_factory() as uow:
        if await uow.orders.read(order_id) is None:
            raise OrderNotFound(f"order {order_id} not found")
        return await uow.payments.totals(order_id)


async def messages(uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], order_id: str) -> list[dict[str, Any]]:
    async with uow_factory() as uow:
        return await uow.notifications.for_order(order_id)


@dataclass(frozen=True)
class Availability:
    sku: str
    on_hand: int
    in_stock: bool
    supplier_id: str
    expected_in_stock_date: date | None  # when the supplier's goods could leave for a customer
    expected_delivery_date: date
    incoming_qty: int = 0  # case-pack surplus ordered for the merchant's warehouse


async def availability(
    uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], sku: str, rules: PromiseRules
) -> Availability | None:
    """What the storefront shows before the customer buys: in stock, or the date a backorder would arrive."""
    now = utcnow()
    async with uow_factory() as uow:
        product = await uow.products.get(sku)
        if product is None:
            return None
        estimates = await uow.release_estimates.for_suppliers([product.supplier_id])
        incoming = await uow.incoming.units(sku)
        free, due = (await uow.incoming.free([sku])).get(sku, (0, None))
        decision = None if product.on_hand > 0 else (await load_sourcing(uow, [sku])).route(sku, 1, now, rules)
    if product.on_hand > 0:
        return Availability(
            sku,
            product.on_hand,
            True,
            product.supplier_id,
            now.date(),
            delivery_after_ship_date(now.date(), rules),
            incoming,
        )
    if free > 0 and due is not None:  # as an order would be promised: from the units incoming to the warehouse
        arrival = max(due, now).date()
        return Availability(
            sku, 0, False, product.supplier_id, arrival, delivery_after_ship_date(arrival, rules), incoming
        )
    if decision is not None:  # as an order of one unit would be routed now
        supplier_id, lead_time_days, release = (
            decision.offer.supplier_id,
            decision.offer.lead_time_days,
            decision.expected_release_at,
        )
    else:
        supplier_id, lead_time_days = product.supplier_id, product.lead_time_days
        release = expected_release(now, estimates.get(product.supplier_id), rules)
    ships = (release + timedelta(days=lead_time_days)).date()
    return Availability(
        sku, 0, False, supplier_id, ships, delivery_after_release(release, lead_time_days, rules), incoming
    )


async def backorder_metrics(
    uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], start: datetime, end: datetime, group_by: str
) -> list[BackorderFigures]:
    """Figures over the orders placed in [start, end), per SKU, per supplier, per day placed or all together."""
    # a backordered line counts under the supplier it was routed to (last), a line from stock under the product's
    by_supplier = func.coalesce(order_lines.c.supplier_id, products.c.supplier_id)
    group_column = {"supplier": by_supplier, "all": literal("all"), "day": literal("day")}.get(
        group_by, order_lines.c.sku
    )
    shipped_at = (
        select(line_transitions.c.order_id, line_transitions.c.line_no, func.min(line_transitions.c.at).label("at"))
        .where(line_transitions.c.to_status == LineStatus.SHIPPED.value)
        .group_by(line_transitions.c.order_id, line_transitions.c.line_no)
        .subquery()
    )
    first_promise = (
        select(
            line_promises.c.order_id,
            line_promises.c.line_no,
            func.min(line_promises.c.id).label("first_id"),
            func.max(line_promises.c.promised_date).label("latest_date"),
        )
        .group_by(line_promises.c.order_id, line_promises.c.line_no)
        .subquery()
    )
    first = line_promises.alias("first")
    query = (
        select(
            group_column.label("group"),
            orders.c.placed_at,
            order_lines.c.quantity,
            order_lines.c.backordered_qty,
            order_lines.c.status,
            shipped_at.c.at.label("shipped_at"),
            first.c.promised_date.label("first_promise"),
            first_promise.c.latest_date.label("latest_promise"),
            consolation_credits.c.amount.label("credit"),
        )
        .select_from(order_lines)
        .join(orders, orders.c.order_id == order_lines.c.order_id)
        .join(products, products.c.sku == order_lines.c.sku, isouter=True)
        .join(
            shipped_at,
            (shipped_at.c.order_id == order_lines.c.order_id) & (shipped_at.c.line_no == order_lines.c.line_no),
            isouter=True,
        )
        .join(
            first_promise,
            (first_promise.c.order_id == order_lines.c.order_id) & (first_promise.c.line_no == order_lines.c.line_no),
            isouter=True,
        )
        .join(first, first.c.id == first_promise.c.first_id, isouter=True)
        .join(
            consolation_credits,
            (consolation_credits.c.order_id == order_lines.c.order_id)
            & (consolation_credits.c.line_no == order_lines.c.line_no),
            isouter=True,
        )
        .where(orders.c.placed_at >= start, orders.c.placed_at < end)
    )
    async with uow_factory() as uow:
        rows = (await uow.session.execute(query)).mappings().all()
    facts = [
        LineFacts(
            # by day: the UTC date the order was placed (worked out here: the engines spell dates differently)
            group=row["placed_at"].date().isoformat() if group_by == "day" else row["group"] or "unknown",
            placed_at=row["placed_at"],
            quantity=row["quantity"],
            backordered_qty=row["backordered_qty"],
            status=LineStatus(row["status"]),
            fully_shipped_at=row["shipped_at"],
            first_promise=row["first_promise"],
            latest_promise=row["latest_promise"],
            credit=row["credit"],
        )
        for row in rows
    ]
    return backorder_figures(facts, utcnow())
