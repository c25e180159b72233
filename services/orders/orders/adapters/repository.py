"""Repositories: load and save orders, products and the aggregator's release estimates through the orders schema."""

from __future__ import annotations

import asyncio
import functools
import json
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    CompoundSelect,
    Date,
    Integer,
    RowMapping,
    Select,
    String,
    Table,
    Text,
    Update,
    bindparam,
    case,
    cast,
    delete,
    func,
    literal,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dropship_shared.db import Money, among, among_bound, insert_many
from dropship_shared.events import Address
from dropship_shared.unit_of_work import CollectEvents
from orders.adapters.orm import (
    consolation_credits,
    incoming_stock,
    line_promises,
    line_transitions,
    order_lines,
    orders,
    product_offers,
    products,
    shipments,
    stock_receipts,
    stock_withdrawals,
    supplier_release_estimates,
)
from orders.domain.lifecycle import LineStatus, Transition
from orders.domain.model import Order, OrderLine, Product, ProductOffer, Shipment
from orders.domain.promise import Promise, ReleaseEstimate
from orders.domain.receiving import WaitingLine
from orders.domain.routing import BatchOutlook
from orders.domain.sourcing import told_outlook
from orders.service_layer.ports import IdempotencyKeyTaken

# An order's rows are turned into its lines ROWS_PER_TURN at a time, the loop given a turn between: the reads and
# events answered on the same loop wait for a 200-line order's load a few milliseconds at a time, not all of it.
ROWS_PER_TURN = 64


async def _dialect_insert(session: AsyncSession, table: Table) -> postgresql.Insert | sqlite.Insert:
    connection = await session.connection()
    return postgresql.insert(table) if connection.dialect.name == "postgresql" else sqlite.insert(table)


async def insert_ignoring_duplicates(session: AsyncSession, table: Table, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING of one row on either engine; False when the row was already there (many
    rows: `insert_many` with `ignore_duplicates`)."""
    statement = (await _dialect_insert(session, table)).on_conflict_do_nothing()
    result = await session.execute(statement.values(values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def upsert(session: AsyncSession, table: Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    """INSERT … ON CONFLICT DO UPDATE on either engine: one statement, so concurrent writers of a
    derived row never collide on its key (an UPDATE-then-INSERT races into a unique violation)."""
    statement = (await _dialect_insert(session, table)).values({**key, **values})
    await session.execute(statement.on_conflict_do_update(index_elements=list(key), set_=values))


@dataclass
class ForAllocation:
    """What orders of a batch are allocated and routed with: the products (by SKU), their suppliers' release
    estimates (by supplier), each product's active offers (the preferred first) and where those suppliers'
    batches stand (by supplier)."""

    products: dict[str, Product]
    estimates: dict[str, ReleaseEstimate]
    offers: dict[str, list[ProductOffer]]
    outlooks: dict[str, BatchOutlook]


class ProductRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._locked_on_hand: dict[str, int] = {}

    async def upsert(self, product: Product) -> None:
        values = {
            "name": product.name,
            "supplier_id": product.supplier_id,
            "supplier_sku": product.supplier_sku,
            "price": product.price,
            "cost": product.cost,
            "on_hand": product.on_hand,
            "lead_time_days": product.lead_time_days,
        }
        # The import names the product's supplier: when it names another than before, the offer it named before
        # is deactivated (so a catalog kept by import alone still has its one supplier) and the one it names now
        # is active; naming the same supplier again (a routine import: stock, prices) leaves its offer's active
        # flag as the merchant set it (an offer deactivated through the API is never chosen again). Offers added
        # through the offers API are left as they are. Both offer statements read the supplier named before, so
        # they come before the product's upsert.
        previous = select(products.c.supplier_id).where(products.c.sku == product.sku).scalar_subquery()
        await self._session.execute(
            update(product_offers)
            .where(
                product_offers.c.sku == product.sku,
                product_offers.c.supplier_id == previous,
                product_offers.c.supplier_id != product.supplier_id,
            )
            .values(active=False)
        )
        offer = ProductOffer.of(product)
        figures = {
            "supplier_sku": offer.supplier_sku,
            "unit_cost": offer.unit_cost,
            "lead_time_days": offer.lead_time_days,
        }
        named_before = func.coalesce(previous, "") == offer.supplier_id
        statement = (await _dialect_insert(self._session, product_offers)).values(
            sku=offer.sku, supplier_id=offer.supplier_id, active=True, **figures
        )
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=["sku", "supplier_id"],
                set_={**figures, "active": case((named_before, product_offers.c.active), else_=True)},
            )
        )
        await upsert(self._session, products, {"sku": product.sku}, values)

    async def get(self, sku: str) -> Product | None:
        row = (await self._session.execute(select(products).where(products.c.sku == sku))).mappings().first()
        return Product(**row) if row else None

    async def all(self) -> list[Product]:
        rows = (await self._session.execute(select(products).order_by(products.c.sku))).mappings().all()
        return [Product(**row) for row in rows]

    async def for_allocation(self, skus: Iterable[str]) -> ForAllocation:
        """The products as orders allocate them, each with its incoming units not yet promised to a line, its
        supplier's release estimate and its active offers with where their suppliers' batches stand (routing):
        one statement, another when units are incoming (for those promised).

        On PostgreSQL the products with stock or incoming units to take are then locked in a fixed order (sorted
        SKUs), so concurrent orders cannot deadlock, and read again under the lock. A product with none is not
        changed by an order, so the orders of an out-of-stock SKU (a launch, a flash sale) do not queue on its
        row; one that reads it empty while stock arrives is simply backordered, as if placed a moment earlier.
        SQLite's BEGIN IMMEDIATE already excludes other writers."""
        read = ForAllocation({}, {}, defaultdict(list), {})
        await self._read_for_allocation(set(skus), read, with_offers=True)
        in_stock = sorted(sku for sku, product in read.products.items() if product.on_hand or product.incoming_free)
        connection = await self._session.connection()
        if in_stock and connection.dialect.name != "sqlite":
            await self._read_for_allocation(in_stock, read, with_offers=False)
        self._locked_on_hand.update({sku: product.on_hand for sku, product in read.products.items()})
        return read

    async def _read_for_allocation(self, skus: Collection[str], read: ForAllocation, with_offers: bool) -> None:
        """The products into `read`: with their offers (one row per active offer, the preferred first), or
        without them and locked."""
        dialect = self._session.get_bind().dialect.name
        query = _products_for_allocation(dialect, with_offers)
        rows = (await self._session.execute(query, {"skus": list(skus)})).mappings().all()
        incoming_units = {row["sku"]: int(row["incoming_units"]) for row in rows if row["incoming_units"]}
        promised = await _promised_to_incoming(self._session, incoming_units) if incoming_units else {}
        for row in rows:
            product = Product(**{column.name: row[column.name] for column in products.columns})
            read.products[product.sku] = product
            if product.sku in incoming_units:
                product.incoming_free = max(incoming_units[product.sku] - promised.get(product.sku, 0), 0)
                product.incoming_expected_at = row["incoming_due"]
            if row["own_release_at"] is not None:
                read.estimates[product.supplier_id] = _release_estimate(
                    row["own_release_at"], row["own_first_line_wait"]
                )
            if with_offers and row["offer_supplier_id"] is not None:
                read.offers[product.sku].append(
                    ProductOffer(**{column.name: row[f"offer_{column.name}"] for column in product_offers.columns})
                )
                if row["told_updated_at"] is not None:  # the aggregator told where this supplier's batch stands
                    told_row = {
                        column.name: row[f"told_{column.name}"] for column in supplier_release_estimates.columns
                    }
                    read.outlooks[row["offer_supplier_id"]] = told_outlook(told_row)

    async def lead_times(self, skus: Iterable[str]) -> dict[str, int]:
        wanted = set(skus)
        if not wanted:
            return {}
        rows = await self._session.execute(
            select(products.c.sku, products.c.lead_time_days).where(among(self._session, products.c.sku, wanted))
        )
        return {row[0]: row[1] for row in rows}

    async def lock(self, sku: str) -> Product | None:
        """The product, its row locked (stock is about to change)."""
        query = select(products).where(products.c.sku == sku).with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        if row is None:
            return None
        self._locked_on_hand[sku] = row["on_hand"]
        return Product(**row)

    async def save_stock(self, items: Iterable[Product]) -> None:
        """Write back the stock of the products whose on-hand changed since they were locked, in one statement."""
        changed = [product for product in items if self._locked_on_hand.get(product.sku) != product.on_hand]
        if not changed:
            return  # a backordered SKU's stock stays 0: no statement for it
        for product in changed:
            self._locked_on_hand[product.sku] = product.on_hand
        await self._session.execute(
            update(products).where(products.c.sku == bindparam("at_sku")).values(on_hand=bindparam("new_on_hand")),
            [{"at_sku": product.sku, "new_on_hand": product.on_hand} for product in changed],
        )


class OfferRepository:
    """The suppliers' offers of each product."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def of_product(self, sku: str) -> list[ProductOffer]:
        """Every offer of the product, active or not, the preferred first."""
        return (await self.of_products([sku], active_only=False)).get(sku, [])

    async def of_products(self, skus: Iterable[str], active_only: bool = True) -> dict[str, list[ProductOffer]]:
        """The offers of these products (one statement), each product's preferred first."""
        wanted = set(skus)
        if not wanted:
            return {}
        query = select(product_offers).where(product_offers.c.sku.in_(wanted))
        if active_only:
            query = query.where(product_offers.c.active.is_(True))
        rows = await self._session.execute(
            query.order_by(product_offers.c.sku, product_offers.c.priority, product_offers.c.supplier_id)
        )
        found: dict[str, list[ProductOffer]] = defaultdict(list)
        for row in rows.mappings():
            found[row["sku"]].append(ProductOffer(**row))
        return dict(found)

    async def for_routing(self, skus: Iterable[str]) -> tuple[dict[str, list[ProductOffer]], dict[str, BatchOutlook]]:
        """The active offers of these products, each product's preferred first, and where each of their suppliers'
        batches stood at the aggregator's latest word: one statement."""
        wanted = set(skus)
        if not wanted:
            return {}, {}
        known = supplier_release_estimates
        told = [column for column in known.columns if column.name != "supplier_id"]
        rows = await self._session.execute(
            select(product_offers, *told)
            .select_from(product_offers.outerjoin(known, known.c.supplier_id == product_offers.c.supplier_id))
            .where(among(self._session, product_offers.c.sku, wanted), product_offers.c.active.is_(True))
            .order_by(product_offers.c.sku, product_offers.c.priority, product_offers.c.supplier_id)
        )
        offers: dict[str, list[ProductOffer]] = defaultdict(list)
        outlooks: dict[str, BatchOutlook] = {}
        for row in rows.mappings():
            offer = ProductOffer(**{column.name: row[column.name] for column in product_offers.columns})
            offers[offer.sku].append(offer)
            if row["updated_at"] is not None:  # the aggregator told where this supplier's batch stands
                outlooks[offer.supplier_id] = told_outlook(dict(row))
        return dict(offers), outlooks

    async def put(self, offer: ProductOffer) -> bool:
        """Add or change one supplier's offer; True when it is new. An offer of the product's own supplier (the
        one the catalog import names) keeps the product's cost, supplier SKU and lead time the same."""
        key = {"sku": offer.sku, "supplier_id": offer.supplier_id}
        existed = await self._session.scalar(
            select(func.count()).where(
                product_offers.c.sku == offer.sku, product_offers.c.supplier_id == offer.supplier_id
            )
        )
        values = {
            "supplier_sku": offer.supplier_sku,
            "unit_cost": offer.unit_cost,
            "lead_time_days": offer.lead_time_days,
            "priority": offer.priority,
            "active": offer.active,
        }
        await upsert(self._session, product_offers, key, values)
        await self._session.execute(
            update(products)
            .where(products.c.sku == offer.sku, products.c.supplier_id == offer.supplier_id)
            .values(supplier_sku=offer.supplier_sku, cost=offer.unit_cost, lead_time_days=offer.lead_time_days)
        )
        return not existed


class ReleaseEstimateRepository:
    """The aggregator's latest word on when each supplier's batch goes out."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(self, estimates: Sequence[tuple[BatchOutlook, datetime]]) -> None:
        """Each supplier's latest estimate (told at that time) and, when the aggregator tells it, where its batch
        stands: one statement for all of them, their rows written (and locked) in the order given."""
        if not estimates:
            return
        rows = []
        for outlook, now in estimates:
            wait = outlook.first_line_wait
            known = outlook.standing_known
            rows.append(
                {
                    "supplier_id": outlook.supplier_id,
                    "expected_release_at": outlook.expected_release_at or now,
                    "first_line_wait_seconds": None if wait is None else wait.total_seconds(),
                    "updated_at": now,
                    "pending_units": outlook.pending_units if known else None,
                    "pending_value": outlook.pending_value if known else None,
                    "min_units": outlook.min_units if known else None,
                    "min_value": outlook.min_value if known else None,
                    "next_cutoff_at": outlook.complete_release_at if known else None,
                }
            )
        await self._session.execute(_estimates_upsert(self._session.get_bind().dialect.name), rows)

    async def for_suppliers(self, supplier_ids: Iterable[str]) -> dict[str, ReleaseEstimate]:
        table = supplier_release_estimates
        rows = await self._session.execute(
            select(table.c.supplier_id, table.c.expected_release_at, table.c.first_line_wait_seconds).where(
                among(self._session, table.c.supplier_id, set(supplier_ids))
            )
        )
        return {row[0]: _release_estimate(row[1], row[2]) for row in rows}


@functools.cache
def _estimates_upsert(dialect: str) -> postgresql.Insert | sqlite.Insert:
    """INSERT … ON CONFLICT DO UPDATE of a supplier's estimate row with every figure bound, built once per engine:
    one statement whatever the number of suppliers (their rows as its parameters)."""
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(supplier_release_estimates)
    figures = {column.name: statement.excluded[column.name] for column in supplier_release_estimates.columns}
    del figures["supplier_id"]
    return statement.on_conflict_do_update(index_elements=["supplier_id"], set_=figures)


def _release_estimate(expected_release_at: datetime, first_line_wait_seconds: float | None) -> ReleaseEstimate:
    wait = None if first_line_wait_seconds is None else timedelta(seconds=first_line_wait_seconds)
    return ReleaseEstimate(expected_release_at, wait)


class IncomingStockRepository:
    """Units on their way to the merchant's warehouse (case-pack surplus on supplier POs), until received."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(
        self,
        po_number: str,
        sku: str,
        quantity: int,
        at: datetime,
        line_no: int | None = None,
        expected_at: datetime | None = None,
    ) -> None:
        await insert_ignoring_duplicates(
            self._session,
            incoming_stock,
            {
                "po_number": po_number,
                "sku": sku,
                "quantity": quantity,
                "ordered_at": at,
                "line_no": line_no,
                "expected_at": expected_at,
            },
        )

    async def shipped(self, po_number: str, line_no: int, shipped_at: datetime, expected_at: datetime) -> bool:
        """The supplier's shipment notice names the surplus line: it is due in the warehouse at `expected_at`."""
        result = await self._session.execute(
            update(incoming_stock)
            .where(
                incoming_stock.c.po_number == po_number,
                incoming_stock.c.line_no == line_no,
                incoming_stock.c.shipped_at.is_(None),
            )
            .values(shipped_at=shipped_at, expected_at=expected_at)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def units(self, sku: str) -> int:
        """Units still to be received."""
        total = await self._session.scalar(
            select(func.coalesce(func.sum(incoming_stock.c.quantity - incoming_stock.c.received_qty), 0)).where(
                incoming_stock.c.sku == sku
            )
        )
        return int(total or 0)

    async def free(self, skus: Iterable[str]) -> dict[str, tuple[int, datetime | None]]:
        """Per SKU with units to receive: those not yet promised to a line, and when the last of them is due."""
        wanted = set(skus)
        remaining = incoming_stock.c.quantity - incoming_stock.c.received_qty
        rows = await self._session.execute(
            select(incoming_stock.c.sku, func.sum(remaining), func.max(incoming_stock.c.expected_at))
            .where(among(self._session, incoming_stock.c.sku, wanted), remaining > 0)
            .group_by(incoming_stock.c.sku)
        )
        incoming = {row[0]: (int(row[1]), row[2]) for row in rows}
        if not incoming:
            return {}
        taken = await _promised_to_incoming(self._session, incoming)
        return {sku: (max(units - taken.get(sku, 0), 0), due) for sku, (units, due) in incoming.items()}

    async def receive(self, sku: str, quantity: int, po_number: str | None) -> None:
        """Count `quantity` received units against what was incoming (that PO's first, else the earliest due)."""
        remaining = incoming_stock.c.quantity - incoming_stock.c.received_qty
        query = select(incoming_stock.c.po_number, remaining).where(incoming_stock.c.sku == sku, remaining > 0)
        if po_number is not None:
            query = query.where(incoming_stock.c.po_number == po_number)
        rows = await self._session.execute(query.order_by(incoming_stock.c.expected_at, incoming_stock.c.po_number))
        left = quantity
        for row_po, row_remaining in rows.all():
            if left <= 0:
                break
            taken = min(left, int(row_remaining))
            left -= taken
            await self._session.execute(
                update(incoming_stock)
                .where(incoming_stock.c.po_number == row_po, incoming_stock.c.sku == sku)
                .values(received_qty=incoming_stock.c.received_qty + taken)
            )

    async def due(self, now: datetime, limit: int = 100) -> list[tuple[str, str, int | None, int]]:
        """(PO, SKU, PO line, units) shipped to the warehouse and due by now, not yet received."""
        remaining = incoming_stock.c.quantity - incoming_stock.c.received_qty
        rows = await self._session.execute(
            select(incoming_stock.c.po_number, incoming_stock.c.sku, incoming_stock.c.line_no, remaining)
            .where(incoming_stock.c.shipped_at.is_not(None), incoming_stock.c.expected_at <= now, remaining > 0)
            .order_by(incoming_stock.c.expected_at)
            .limit(limit)
        )
        return [(row[0], row[1], row[2], int(row[3])) for row in rows]


async def _promised_to_incoming(session: AsyncSession, skus: Iterable[str]) -> dict[str, int]:
    """Per SKU, the units incoming to the warehouse already promised to backordered lines."""
    rows = await session.execute(
        select(order_lines.c.sku, func.sum(order_lines.c.backordered_qty))
        .where(
            among(session, order_lines.c.sku, skus),
            order_lines.c.awaits_incoming.is_(True),
            order_lines.c.status == LineStatus.BACKORDERED.value,
        )
        .group_by(order_lines.c.sku)
    )
    return {row[0]: int(row[1]) for row in rows}


class StockReceiptRepository:
    """Receipts into the warehouse (each once per key) and the units set aside for lines being withdrawn."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, key: str, sku: str, quantity: int, po_number: str | None, source: str, at: datetime) -> bool:
        """False when this receipt was recorded before (a repeated request or notice)."""
        values = {
            "receipt_key": key,
            "sku": sku,
            "quantity": quantity,
            "po_number": po_number,
            "source": source,
            "received_at": at,
        }
        return await insert_ignoring_duplicates(self._session, stock_receipts, values)

    async def set_aside(self, backorder_line_id: str, sku: str, quantity: int, at: datetime) -> None:
        values = {"backorder_line_id": backorder_line_id, "sku": sku, "quantity": quantity, "requested_at": at}
        await insert_ignoring_duplicates(self._session, stock_withdrawals, values)

    async def take_set_aside(self, backorder_line_id: str) -> tuple[str, int] | None:
        """The (SKU, units) set aside for a line, removed; None if nothing was (or it was taken already)."""
        row = (
            await self._session.execute(
                select(stock_withdrawals.c.sku, stock_withdrawals.c.quantity).where(
                    stock_withdrawals.c.backorder_line_id == backorder_line_id
                )
            )
        ).first()
        if row is None:
            return None
        await self._session.execute(
            delete(stock_withdrawals).where(stock_withdrawals.c.backorder_line_id == backorder_line_id)
        )
        return row[0], int(row[1])


# An order line's columns, in the order `_line_value` gives them: a line loaded to change is kept as its values,
# so `save` compares two tuples per line and builds a row only to write it.
_LINE_COLUMNS = tuple(column.name for column in order_lines.columns)


def _line_values(order: Order) -> list[tuple[Any, ...]]:
    return [_line_value(order.order_id, line) for line in order.lines]


def _line_value(order_id: str, line: OrderLine) -> tuple[Any, ...]:
    """The line's columns as a tuple, in `_LINE_COLUMNS` order."""
    return (
        order_id,
        line.line_no,
        line.sku,
        line.quantity,
        line.unit_price,
        line.allocated_qty,
        line.backordered_qty,
        line.status.value,
        line.supplier_id,
        line.po_number,
        line.lead_time_days,
        line.promised_date,
        line.cancelled_qty,
        line.rejected_qty,
        line.status_reason,
        line.delivered_at,
        line.awaits_incoming,
        line.route_no,
        line.tried_suppliers or None,
        line.routing,
        line.awaits_operator,
    )


def _line_row(values: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(_LINE_COLUMNS, values, strict=True))


def _line_rows(order: Order) -> list[dict[str, Any]]:
    return [_line_row(values) for values in _line_values(order)]


class OrderRepository:
    """`collect` is the unit of work's: the new events of an order loaded (to be changed), added or saved go to
    the outbox with the commit."""

    def __init__(self, session: AsyncSession, collect: CollectEvents) -> None:
        self._session = session
        self._collect = collect
        # The lines' values as `get` read them (`_LINE_COLUMNS`), so `save` writes only what changed.
        self._loaded_lines: dict[str, dict[int, tuple[Any, ...]]] = {}
        self._dialect = session.get_bind().dialect.name

    async def lock(self, order_ids: Iterable[str]) -> list[str]:
        """Lock the orders in one global order (sorted ids) and return those that exist.

        Writers of orders lock them this way before any other row they write, so handlers can wait
        on each other but never in a cycle: no deadlocks by construction."""
        wanted = sorted(set(order_ids))
        if not wanted:
            return []
        result = await self._session.execute(_orders_locked_among(self._dialect), {"order_ids": wanted})
        return list(result.scalars().all())

    async def add(self, placed: list[tuple[Order, str | None]]) -> None:
        """New orders, each with its idempotency key: one statement per table for all of them, nothing
        read back. Raises IdempotencyKeyTaken when a concurrent request stored one of the keys first."""
        if not placed:
            return
        try:
            await insert_many(
                self._session,
                orders,
                [
                    {
                        "order_id": order.order_id,
                        "customer_email": order.customer_email,
                        "ship_to": order.ship_to.model_dump(mode="json"),
                        "placed_at": order.placed_at,
                        "idempotency_key": idempotency_key,
                        "currency": order.currency,
                    }
                    # in key order: concurrent batches sharing keys wait on each other, never deadlock
                    for order, idempotency_key in sorted(placed, key=lambda new: new[1] or "")
                ],
            )
        except IntegrityError as exc:
            keys = [key for _, key in placed if key is not None]
            if keys and "idempotency_key" in str(exc.orig):
                raise IdempotencyKeyTaken(", ".join(keys)) from exc
            raise
        new_orders = [order for order, _ in placed]
        await insert_many(self._session, order_lines, [row for order in new_orders for row in _line_rows(order)])
        await self._save_history(new_orders)
        for order in new_orders:
            self._collect(order)

    async def save(self, *changed: Order) -> None:
        """Write the lines that changed since `get` (a big order's event rewrites a few rows, not all): the
        lines of all the orders that changed the same columns in one statement."""
        new_lines: list[dict[str, Any]] = []
        changed_lines: dict[tuple[int, ...], list[tuple[Any, ...]]] = defaultdict(list)  # by changed positions
        for order in changed:
            loaded = self._loaded_lines.get(order.order_id, {})
            lines = _line_values(order)
            for values in lines:
                before = loaded.get(values[1])
                if before is None:
                    new_lines.append(_line_row(values))
                elif before != values:
                    changed_lines[tuple(n for n, value in enumerate(values) if before[n] != value)].append(values)
            self._loaded_lines[order.order_id] = {values[1]: values for values in lines}
        if new_lines:
            await insert_many(self._session, order_lines, new_lines)
        for positions, lines in changed_lines.items():
            await self._session.execute(
                _line_update(tuple(_LINE_COLUMNS[n] for n in positions)),
                [
                    {"at_order": values[0], "at_line": values[1]}
                    | {f"new_{_LINE_COLUMNS[n]}": values[n] for n in positions}
                    for values in lines
                ],
            )
        await self._save_shipments(changed)
        await self._save_history(list(changed))
        for order in changed:
            self._collect(order)

    async def _save_shipments(self, changed: tuple[Order, ...]) -> None:
        """The shipments not stored yet, of all the orders at once (one read, one write)."""
        shipped = [order for order in changed if any(line.shipments for line in order.lines)]
        if not shipped:
            return  # nothing shipped yet (every new order): nothing to compare with what is stored
        rows = await self._session.execute(
            select(shipments.c.order_id, shipments.c.line_no, shipments.c.shipment_id).where(
                among(self._session, shipments.c.order_id, [order.order_id for order in shipped])
            )
        )
        known = {(row[0], row[1], row[2]) for row in rows}
        new_shipments = [
            {
                "order_id": order.order_id,
                "line_no": line.line_no,
                "shipment_id": shipment.shipment_id,
                "quantity": shipment.quantity,
                "carrier": shipment.carrier,
                "tracking_number": shipment.tracking_number,
                "tracking_url": shipment.tracking_url,
                "shipped_at": shipment.shipped_at,
            }
            for order in shipped
            for line in order.lines
            for shipment in line.shipments
            if (order.order_id, line.line_no, shipment.shipment_id) not in known
        ]
        if new_shipments:
            await insert_many(self._session, shipments, new_shipments)

    async def _save_history(self, changed: list[Order]) -> None:
        """Append the transitions, promises and credits these changes produced (history is never rewritten)."""
        transitions = [
            {
                "order_id": order.order_id,
                "line_no": t.line_no,
                "from_status": t.from_status.value if t.from_status else None,
                "to_status": t.to_status.value,
                "at": t.at,
                "cause": t.cause,
                "event_id": t.event_id,
            }
            for order in changed
            for t in order.new_transitions
        ]
        if transitions:
            await insert_many(self._session, line_transitions, transitions)
        promises = [
            {
                "order_id": order.order_id,
                "line_no": p.line_no,
                "promised_date": p.promised_date,
                "at": p.at,
                "cause": p.cause,
                "event_id": p.event_id,
            }
            for order in changed
            for p in order.new_promises
        ]
        if promises:
            await insert_many(self._session, line_promises, promises)
        credits = [
            {
                "order_id": credit.order_id,
                "line_no": credit.line_no,
                "amount": credit.amount,
                "currency": order.currency,
                "reason": credit.reason,
                "issued_at": order.new_promises[-1].at if order.new_promises else order.placed_at,
            }
            for order in changed
            for credit in order.credits
        ]
        if credits:
            await insert_many(self._session, consolation_credits, credits, ignore_duplicates=True)
        for order in changed:
            order.new_transitions.clear()
            order.new_promises.clear()

    async def by_idempotency_keys(self, keys: Iterable[str]) -> dict[str, Order]:
        """The orders placed before under these keys (usually none: one statement finds that out)."""
        wanted = set(keys)
        if not wanted:
            return {}
        rows = await self._session.execute(
            select(orders.c.order_id, orders.c.idempotency_key).where(
                among(self._session, orders.c.idempotency_key, wanted)
            )
        )
        key_of = {order_id: key for order_id, key in rows.all()}
        # A replay answers the order as placed: its lines' status transitions are not part of the answer.
        placed = await self.get_many(key_of, with_history=False)
        return {key_of[order_id]: order for order_id, order in placed.items()}

    async def waiting_for_stock(self, sku: str) -> list[WaitingLine]:
        """The lines of `sku` still backordered and not yet on a purchase order (no lock)."""
        rows = await self._session.execute(
            select(
                order_lines.c.order_id,
                order_lines.c.line_no,
                order_lines.c.backordered_qty,
                order_lines.c.awaits_incoming,
                orders.c.placed_at,
                order_lines.c.awaits_operator,
                order_lines.c.route_no,
                order_lines.c.supplier_id,
            )
            .join(orders, orders.c.order_id == order_lines.c.order_id)
            .where(order_lines.c.sku == sku, order_lines.c.status == LineStatus.BACKORDERED.value)
            .order_by(orders.c.placed_at)
        )
        # a line waiting for an operator is in no supplier batch either: served at once, like incoming units
        return [WaitingLine(row[0], row[1], row[2], row[4], row[3] or row[5], row[6], row[7]) for row in rows]

    async def get(self, order_id: str, for_update: bool = False) -> Order | None:
        return (await self.get_many([order_id], for_update)).get(order_id)

    async def get_many(
        self, order_ids: Iterable[str], for_update: bool = False, with_history: bool = True
    ) -> dict[str, Order]:
        """The orders that exist among `order_ids`, each with its lines, their shipments, promises and credits
        and, `with_history`, their status transitions: one statement however many orders (`_order_rows`; the
        event handlers load a batch's orders together), built once. `for_update` first locks the orders' rows in
        sorted id order (the same order as `lock`), in a statement of its own: the read that follows sees what
        each lock's last holder committed (a lock taken in the same statement as the lines' read would hand out
        the lines as they were before the wait). Without history a line's `history` holds only the transitions
        made from here on (appending one needs none of the earlier: `save` writes only the new ones); only
        `OrderLine.status_before_cancel_request` reads the earlier ones."""
        wanted = sorted(set(order_ids))
        if not wanted:
            return {}
        if for_update and not await self.lock(wanted):
            return {}
        rows = await self._fetch(_order_rows_among(self._dialect, with_history), {"order_ids": wanted})
        loaded = await self._assemble(rows, to_change=True)
        for order in loaded.values():
            # What changes it from here on is forwarded under the correlation id in force at the time.
            self._collect(order)
        return loaded

    async def read(self, order_id: str) -> Order | None:
        """The order as its reader sees it, for requests that never change it, in one statement (`_READ_ORDER`):
        the order with its lines, their shipments, promises and credits, without the transitions (`history` stays
        empty) and without keeping the lines to compare on save. A read runs on the loop that handles the events
        and waits for a turn of it per round trip (one a statement, on SQLite through aiosqlite's thread), so one
        statement instead of six is time given back to both."""
        rows = await self._fetch(_READ_ORDER, {"order_id": order_id})
        if order_id not in rows.lines:
            return None
        return (await self._assemble(rows, to_change=False))[order_id]

    async def _fetch(self, statement: CompoundSelect[Any], parameters: dict[str, Any]) -> _OrderRows:
        """The rows of an `_order_rows` statement, sorted out by kind (the loop given a turn every
        ROWS_PER_TURN rows)."""
        found = _OrderRows(defaultdict(list), defaultdict(lambda: defaultdict(list)))
        rows = (await self._session.execute(statement, parameters)).mappings()
        for count, row in enumerate(rows, 1):
            if count % ROWS_PER_TURN == 0:
                await asyncio.sleep(0)
            if row["kind"] == _LINE:
                found.lines[row["order_id"]].append(row)
            else:
                name, detail = _DETAILS[row["kind"]]
                found.details[name][(row["order_id"], row["line_no"])].append(detail(row))
        return found

    async def _assemble(self, rows: _OrderRows, to_change: bool) -> dict[str, Order]:
        """The orders of `rows`, in id order, each built from its line rows (which carry the order's columns)
        and its lines' details. Orders loaded `to_change` keep their line rows, so `save` writes only what
        changes."""
        by_line = rows.details
        lines: dict[str, list[OrderLine]] = defaultdict(list)
        every_row = (line_row for line_rows in rows.lines.values() for line_row in line_rows)
        for count, line_row in enumerate(every_row, 1):
            if count % ROWS_PER_TURN == 0:
                await asyncio.sleep(0)
            order_id, line_no = line_row["order_id"], line_row["line_no"]
            key = (order_id, line_no)
            credit = by_line["credits"].get(key)
            line = OrderLine(
                line_no=line_no,
                sku=line_row["sku"],
                quantity=line_row["quantity"],
                unit_price=line_row["unit_price"],
                allocated_qty=line_row["allocated_qty"],
                backordered_qty=line_row["backordered_qty"],
                status=LineStatus(line_row["status"]),
                supplier_id=line_row["supplier_id"],
                po_number=line_row["po_number"],
                shipments=[
                    Shipment(
                        shipment_id=s["shipment_id"],
                        quantity=s["quantity"],
                        carrier=s["carrier"],
                        tracking_number=s["tracking_number"],
                        tracking_url=s["tracking_url"],
                        shipped_at=s["shipped_at"],
                    )
                    for s in by_line["shipments"].get(key, [])
                ],
                lead_time_days=line_row["lead_time_days"],
                promised_date=line_row["promised_date"],
                cancelled_qty=line_row["cancelled_qty"],
                rejected_qty=line_row["rejected_qty"],
                status_reason=line_row["status_reason"],
                delivered_at=line_row["delivered_at"],
                history=[
                    Transition(
                        line_no,
                        LineStatus(t["from_status"]) if t["from_status"] else None,
                        LineStatus(t["to_status"]),
                        t["at"],
                        t["cause"],
                        t["event_id"],
                    )
                    for t in by_line["transitions"].get(key, [])
                ],
                promises=[
                    Promise(line_no, p["promised_date"], p["at"], p["cause"], p["event_id"])
                    for p in by_line["promises"].get(key, [])
                ],
                credit=credit[0]["amount"] if credit else None,
                awaits_incoming=line_row["awaits_incoming"],
                route_no=line_row["route_no"],
                tried_suppliers=list(_json(line_row["tried_suppliers"]) or []),
                routing=_json(line_row["routing"]),
                awaits_operator=line_row["awaits_operator"],
            )
            lines[order_id].append(line)
            if to_change:
                self._loaded_lines.setdefault(order_id, {})[line_no] = _line_value(order_id, line)
        return {
            order_id: Order(
                order_id=order_id,
                customer_email=row["customer_email"],
                ship_to=Address.model_validate_json(row["ship_to"]),
                placed_at=row["placed_at"],
                lines=lines[order_id],
                currency=row["currency"],
            )
            for order_id, (row, *_) in sorted(rows.lines.items())
        }


def _json(text: str | None) -> Any:
    """A JSON column's value from its text (`_order_rows` reads them so); SQL NULL or JSON null is None."""
    return None if text is None or text == "null" else json.loads(text)


@functools.lru_cache(maxsize=256)
def _line_update(columns: tuple[str, ...]) -> Update:
    """The UPDATE of these columns of the lines bound (`at_order`, `at_line`), built once per set of columns:
    SQLAlchemy computes a statement's cache key on every new statement object."""
    return (
        update(order_lines)
        .where(order_lines.c.order_id == bindparam("at_order"), order_lines.c.line_no == bindparam("at_line"))
        .values({column: bindparam(f"new_{column}") for column in columns})
    )


@dataclass
class _OrderRows:
    """An `_order_rows` statement's rows sorted out: each order's line rows (each with the order's columns), in
    line order, and its lines' details by kind ("shipments", "promises", "credits", "transitions") and line."""

    lines: dict[str, list[RowMapping]]
    details: dict[str, dict[tuple[str, int], list[dict[str, Any]]]]


# The kinds of rows an `_order_rows` statement gives: a line (with its order's columns), then each kind of detail
# with how its row reads.
_LINE = 0
_DETAILS: dict[int, tuple[str, Callable[[RowMapping], dict[str, Any]]]] = {
    1: (
        "shipments",
        lambda row: {
            "shipment_id": row["text1"],
            "carrier": row["text2"],
            "tracking_number": row["text3"],
            "tracking_url": row["text4"],
            "quantity": row["number"],
            "shipped_at": row["moment"],
        },
    ),
    2: (
        "promises",
        lambda row: {"cause": row["text1"], "event_id": row["text2"], "at": row["moment"], "promised_date": row["day"]},
    ),
    3: ("credits", lambda row: {"amount": row["amount"]}),
    4: (
        "transitions",
        lambda row: {
            "from_status": row["text1"],
            "to_status": row["text2"],
            "cause": row["text3"],
            "event_id": row["text4"],
            "at": row["moment"],
        },
    ),
}


def _order_rows(of_orders: Callable[[Table], ColumnElement[bool]], with_history: bool = False) -> CompoundSelect[Any]:
    """One statement for orders and all their lines hold: a UNION ALL of one row shape, the order's columns, its
    line's and a detail's, in kind order: 0 each order joined with each of its lines, in line order, then their
    lines' 1 shipments, 2 promises, 3 credits and, `with_history`, 4 status transitions, each in its own order.
    Each part gives its own columns and NULL for the others (cast to their types: the first part's types read
    every row); `of_orders(table)` picks the orders' rows of each part's table. The JSON columns are read as
    their text, decoded by `_assemble` (`_json`; the address straight into an `Address`): the driver's codec
    or the type's result processor would decode each into Python values first."""
    order_and_line = [*orders.columns, *(column for column in order_lines.columns if column.name != "order_id")]
    detail_types: dict[str, Any] = {
        **{f"text{n}": String(500) for n in range(1, 5)},
        "number": Integer(),
        "moment": shipments.c.shipped_at.type,
        "day": Date(),
        "amount": Money(),
    }

    as_text = {column.name for column in order_and_line if isinstance(column.type, JSON)}

    def part(kind: int, table: Table, seq: ColumnElement[Any], **given: ColumnElement[Any]) -> Select[Any]:
        def column(name: str, type_: Any) -> ColumnElement[Any]:
            found = given.get(name, table.c.get(name) if name in ("order_id", "line_no") else None)
            if name in as_text:
                return cast(found if found is not None else null(), Text()).label(name)
            return (found if found is not None else cast(null(), type_)).label(name)

        return select(
            literal(kind, Integer).label("kind"),
            seq.label("seq"),
            *(column(c.name, c.type) for c in order_and_line),
            *(column(name, type_) for name, type_ in detail_types.items()),
        ).where(of_orders(table))

    def texts(*columns: ColumnElement[Any]) -> dict[str, ColumnElement[Any]]:
        return {f"text{n}": column for n, column in enumerate(columns, 1)}

    s, p, c, t = shipments.c, line_promises.c, consolation_credits.c, line_transitions.c
    lines = part(_LINE, order_lines, order_lines.c.line_no, **{column.name: column for column in order_and_line})
    shipment_texts = texts(s.shipment_id, s.carrier, s.tracking_number, s.tracking_url)
    details = [
        part(1, shipments, s.id, number=s.quantity, moment=s.shipped_at, **shipment_texts),
        part(2, line_promises, p.id, moment=p.at, day=p.promised_date, **texts(p.cause, p.event_id)),
        part(3, consolation_credits, c.line_no, amount=c.amount),
    ]
    if with_history:
        transition_texts = texts(t.from_status, t.to_status, t.cause, t.event_id)
        details.append(part(4, line_transitions, t.id, moment=t.at, **transition_texts))
    return union_all(
        lines.join_from(orders, order_lines, order_lines.c.order_id == orders.c.order_id), *details
    ).order_by("kind", "seq")


@functools.cache
def _products_for_allocation(dialect: str, with_offers: bool) -> Select[Any]:
    """The products among the `skus` bound with what is incoming to the warehouse and their supplier's release
    estimate: with one row per active offer (the preferred first) and where its supplier's batch stands, or
    without offers and locked. Built once per engine (`_READ_ORDER` says why)."""
    remaining = incoming_stock.c.quantity - incoming_stock.c.received_qty

    def incoming(figure: ColumnElement[Any], label: str) -> Any:
        return (
            select(figure).where(incoming_stock.c.sku == products.c.sku, remaining > 0).scalar_subquery().label(label)
        )

    own = supplier_release_estimates.alias("own_estimate")
    query = select(
        products,
        incoming(func.sum(remaining), "incoming_units"),
        incoming(func.max(incoming_stock.c.expected_at), "incoming_due"),
        own.c.expected_release_at.label("own_release_at"),
        own.c.first_line_wait_seconds.label("own_first_line_wait"),
    ).where(among_bound(products.c.sku, "skus", dialect))
    joined = products.outerjoin(own, own.c.supplier_id == products.c.supplier_id)
    if with_offers:
        offer = product_offers.alias("offer")
        told = supplier_release_estimates.alias("told")
        joined = joined.outerjoin(offer, (offer.c.sku == products.c.sku) & offer.c.active.is_(True)).outerjoin(
            told, told.c.supplier_id == offer.c.supplier_id
        )
        query = query.add_columns(
            *(column.label(f"offer_{column.name}") for column in offer.columns),
            *(column.label(f"told_{column.name}") for column in told.columns),
        ).order_by(products.c.sku, offer.c.priority, offer.c.supplier_id)
    else:
        query = query.order_by(products.c.sku).with_for_update(of=products)
    return query.select_from(joined)


@functools.cache
def _order_rows_among(dialect: str, with_history: bool) -> CompoundSelect[Any]:
    """`_order_rows` of the orders among the `order_ids` bound (the handlers' loads), built once per engine."""
    return _order_rows(lambda table: among_bound(table.c.order_id, "order_ids", dialect), with_history)


@functools.cache
def _orders_locked_among(dialect: str) -> Select[Any]:
    """The ids of the orders among the `order_ids` bound, their rows locked in sorted id order; built once."""
    order_id = orders.c.order_id
    return select(order_id).where(among_bound(order_id, "order_ids", dialect)).order_by(order_id).with_for_update()


# Built once: SQLAlchemy builds a statement's cache key on each new statement object (a walk over every column
# and cast: about half of a read's CPU when built per read) and keeps it on the object.
_READ_ORDER = _order_rows(lambda table: table.c.order_id == bindparam("order_id"))
