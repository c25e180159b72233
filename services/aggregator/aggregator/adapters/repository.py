"""Repositories of the aggregator: suppliers (policy + batch state), backorder lines, purchase orders."""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.adapters.orm import (
    backorder_lines,
    po_counter,
    purchase_order_lines,
    purchase_orders,
    supplier_policy_versions,
    suppliers,
)
from aggregator.domain.line import PendingLine
from aggregator.domain.release import PurchaseOrderDraft
from dropship_shared.db import among_bound, insert_many, update_many


@dataclass
class SupplierRecord:
    supplier_id: str
    name: str
    configured: bool
    policy: dict[str, Any] | None
    policy_version: int
    batch_version: int
    held: bool
    escalated_at: datetime | None
    cutoff_checked_through: datetime | None
    last_release_at: datetime | None
    next_check_at: datetime | None
    arrival_units: float
    arrival_updated_at: datetime | None
    pending_lines: int
    pending_units: int
    pending_value: Decimal
    oldest_received_at: datetime | None
    expected_release_at: datetime | None
    first_line_wait_seconds: float | None = None
    releasable_units: int = 0
    releasable_value: Decimal = Decimal(0)
    minimum_met: bool = False
    blocked_by: list[str] | None = None
    departure_units: float = 0.0
    departure_updated_at: datetime | None = None


_NEXT_PO_NUMBERS = (
    update(po_counter)
    .where(po_counter.c.id == 1)
    .values(last_number=po_counter.c.last_number + bindparam("count"))
    .returning(po_counter.c.last_number)
)
# Built once, as the statements above and `_locked_suppliers`: SQLAlchemy computes a statement's cache key on every
# new statement object, and these run in every transaction.
_STORE_PO_NUMBER = update(po_counter).where(po_counter.c.id == 1).values(last_number=bindparam("last"))


@functools.cache
def _locked_suppliers(dialect: str) -> Select[Any]:
    """The rows of the suppliers among the `supplier_ids` bound, locked in supplier order; built once per engine."""
    supplier_id = suppliers.c.supplier_id
    return (
        select(suppliers)
        .where(among_bound(supplier_id, "supplier_ids", dialect))
        .order_by(supplier_id)
        .with_for_update()
    )


@functools.cache
def _details_among(dialect: str) -> Select[Any]:
    """The details and trace context of the lines among the `line_ids` bound; built once per engine."""
    line_id = backorder_lines.c.backorder_line_id
    return select(line_id, backorder_lines.c.details, backorder_lines.c.traceparent).where(
        among_bound(line_id, "line_ids", dialect)
    )


class SupplierRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def ensure(self, supplier_id: str, name: str | None = None) -> None:
        await self.ensure_all([supplier_id], name)

    async def ensure_all(self, supplier_ids: Sequence[str], name: str | None = None) -> None:
        """Add the suppliers not known yet (named `name`, else by their id), in one statement."""
        rows = [
            {
                "supplier_id": supplier_id,
                "name": name or supplier_id,
                "configured": False,
                "policy_version": 0,
                "batch_version": 0,
                "held": False,
                "arrival_units": 0.0,
                "departure_units": 0.0,
                "pending_lines": 0,
                "pending_units": 0,
                "pending_value": Decimal(0),
            }
            for supplier_id in sorted(supplier_ids)
        ]
        await insert_many(self._session, suppliers, rows, ignore_duplicates=True)

    async def get(self, supplier_id: str, lock: bool = False) -> SupplierRecord | None:
        """Read a supplier; with lock=True every other writer of its batch waits (row lock)."""
        query = select(suppliers).where(suppliers.c.supplier_id == supplier_id)
        if lock:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        return SupplierRecord(**row) if row else None

    async def lock_all(self, supplier_ids: Sequence[str]) -> dict[str, SupplierRecord]:
        """Read and lock the rows of these suppliers in one statement, in supplier order (so writers of several
        batches never deadlock); those not known are missing from the answer."""
        query = _locked_suppliers(self._session.get_bind().dialect.name)
        rows = (await self._session.execute(query, {"supplier_ids": list(supplier_ids)})).mappings()
        return {row["supplier_id"]: SupplierRecord(**row) for row in rows}

    async def all(self) -> list[SupplierRecord]:
        rows = (await self._session.execute(select(suppliers).order_by(suppliers.c.supplier_id))).mappings().all()
        return [SupplierRecord(**row) for row in rows]

    async def update(self, supplier_id: str, **values: Any) -> None:
        await self._session.execute(update(suppliers).where(suppliers.c.supplier_id == supplier_id).values(**values))

    async def update_all(self, changes: Mapping[str, Mapping[str, Any]]) -> None:
        """Write new values to several suppliers' rows in one statement: by supplier, the columns' values, the same
        columns for each."""
        await update_many(
            self._session,
            suppliers,
            "supplier_id",
            [{"supplier_id": supplier_id, **values} for supplier_id, values in sorted(changes.items())],
        )

    async def add_policy_version(self, supplier_id: str, version: int, policy: dict[str, Any], at: datetime) -> None:
        await self._session.execute(
            insert(supplier_policy_versions).values(
                supplier_id=supplier_id, version=version, policy=policy, created_at=at
            )
        )

    async def policy_versions(self, supplier_id: str) -> list[dict[str, Any]]:
        rows = (
            await self._session.execute(
                select(supplier_policy_versions)
                .where(supplier_policy_versions.c.supplier_id == supplier_id)
                .order_by(supplier_policy_versions.c.version)
            )
        ).mappings()
        return [dict(row) for row in rows]

    async def due_for_review(self, now: datetime, limit: int = 100) -> list[str]:
        rows = await self._session.scalars(
            select(suppliers.c.supplier_id)
            .where(suppliers.c.next_check_at <= now)
            .order_by(suppliers.c.next_check_at)
            .limit(limit)
        )
        return list(rows)


# Of a stored line, what the in-memory batch leaves out: its details (ship-to, customer reference) and the trace
# context it arrived in (None untraced). Written once with the line and never changed.
LineDetails = tuple[dict[str, Any], str | None]


class RecentLineDetails:
    """The details of the lines this process stored lately, kept after their transaction committed, so that their
    release (most lines leave within seconds of arriving) does not read them back: a statement fewer per release.
    Bounded (the oldest go first; a line not found here is read from the database), and only what a commit
    stored, which is what the database holds since the details of a line are never changed."""

    def __init__(self, capacity: int = 1024) -> None:
        self._capacity = capacity
        self._details: OrderedDict[str, LineDetails] = OrderedDict()

    def remember(self, stored: Mapping[str, LineDetails]) -> None:
        self._details.update(stored)
        while len(self._details) > self._capacity:
            self._details.popitem(last=False)

    def take(self, backorder_line_ids: Sequence[str]) -> dict[str, LineDetails]:
        """Those of these lines that are kept, no longer kept (a line is released once; should its transaction
        fail, the next attempt reads them from the database)."""
        return {line_id: self._details.pop(line_id) for line_id in backorder_line_ids if line_id in self._details}


class BackorderLineRepository:
    """The lines' rows. What the transaction stored is not read back (the details and trace context of the lines
    it added are kept for their release, and after commit in the process's `RecentLineDetails` when it has one),
    and the lines it released are written together, before anything reads their status and at the latest on
    commit (`flush`)."""

    def __init__(self, session: AsyncSession, recent: RecentLineDetails | None = None) -> None:
        self._session = session
        self._recent = recent
        self._added: dict[str, LineDetails] = {}
        self._released: list[dict[str, Any]] = []

    async def flush(self) -> None:
        """Write the lines released so far (one statement)."""
        if self._released:
            released, self._released = self._released, []
            await update_many(self._session, backorder_lines, "backorder_line_id", released)

    async def status_of(self, backorder_line_id: str) -> tuple[str, str | None, int | None, int] | None:
        """(status, po_number, po_line_no, quantity) of a line we have seen, else None."""
        await self.flush()
        row = (
            await self._session.execute(
                select(
                    backorder_lines.c.status,
                    backorder_lines.c.po_number,
                    backorder_lines.c.po_line_no,
                    backorder_lines.c.quantity,
                ).where(backorder_lines.c.backorder_line_id == backorder_line_id)
            )
        ).first()
        return (row[0], row[1], row[2], row[3]) if row else None

    async def add_pending(self, lines: Sequence[tuple[str, PendingLine, LineDetails]]) -> set[str]:
        """Record (supplier, line, its details and the trace context it arrived in) of distinct lines as pending in
        one statement; the ids of the lines recorded now (a line id seen before, a duplicate or one cancelled
        first, is left as it is)."""
        rows: list[dict[str, Any]] = [
            {
                "backorder_line_id": line.backorder_line_id,
                "supplier_id": supplier_id,
                "status": "pending",
                "sku": line.sku,
                "supplier_sku": line.supplier_sku,
                "quantity": line.quantity,
                "unit_cost": line.unit_cost,
                "received_at": line.received_at,
                "details": details,
                "traceparent": traceparent,
            }
            for supplier_id, line, (details, traceparent) in lines
        ]
        added = set(
            await insert_many(
                self._session,
                backorder_lines,
                rows,
                ignore_duplicates=True,
                returning=backorder_lines.c.backorder_line_id,
            )
        )
        for row in rows:
            if row["backorder_line_id"] in added:
                self._added[row["backorder_line_id"]] = (row["details"], row["traceparent"])
        return added

    def committed(self) -> None:
        """The transaction committed: the details of the lines it stored and did not release go to the process's
        recent details."""
        if self._recent is not None:
            self._recent.remember(self._added)
        self._added = {}

    async def add_tombstone(self, supplier_id: str, backorder_line_id: str, at: datetime) -> None:
        """A cancellation that overtook its backorder: the backorder, when it comes, is ignored."""
        tombstone = {
            "backorder_line_id": backorder_line_id,
            "supplier_id": supplier_id,
            "status": "cancelled",
            "sku": "",
            "supplier_sku": "",
            "quantity": 0,
            "unit_cost": Decimal(0),
            "received_at": at,
            "details": {},
            "traceparent": None,
        }
        await insert_many(self._session, backorder_lines, [tombstone], ignore_duplicates=True)

    async def mark_cancelled(self, backorder_line_id: str) -> None:
        await self._session.execute(
            update(backorder_lines)
            .where(backorder_lines.c.backorder_line_id == backorder_line_id)
            .values(status="cancelled")
        )

    def mark_released(self, po_number: str, line_numbers: dict[str, int]) -> None:
        """The lines of a PO are released (written with the transaction's other released lines, see `flush`)."""
        self._released.extend(
            {"backorder_line_id": line_id, "status": "released", "po_number": po_number, "po_line_no": line_no}
            for line_id, line_no in line_numbers.items()
        )

    async def details_of(self, backorder_line_ids: list[str]) -> dict[str, LineDetails]:
        """Of lines being released, what is kept out of the in-memory batch: ship-to and customer reference, and
        the trace context each arrived in (None untraced), for the release to link. Read only for the lines
        neither this transaction nor, lately, the process stored."""
        found = {line_id: self._added.pop(line_id) for line_id in backorder_line_ids if line_id in self._added}
        unread = [line_id for line_id in backorder_line_ids if line_id not in found]
        if unread and self._recent is not None:
            found.update(self._recent.take(unread))
            unread = [line_id for line_id in unread if line_id not in found]
        if unread:
            rows = await self._session.execute(
                _details_among(self._session.get_bind().dialect.name), {"line_ids": unread}
            )
            found.update((row[0], (row[1], row[2])) for row in rows)
        return found

    async def pending_for(self, supplier_id: str) -> list[PendingLine]:
        await self.flush()
        rows = (
            await self._session.execute(
                select(
                    backorder_lines.c.backorder_line_id,
                    backorder_lines.c.supplier_sku,
                    backorder_lines.c.sku,
                    backorder_lines.c.quantity,
                    backorder_lines.c.unit_cost,
                    backorder_lines.c.received_at,
                )
                .where(backorder_lines.c.supplier_id == supplier_id, backorder_lines.c.status == "pending")
                .order_by(backorder_lines.c.received_at, backorder_lines.c.backorder_line_id)
            )
        ).mappings()
        return [
            PendingLine(
                backorder_line_id=row["backorder_line_id"],
                supplier_sku=row["supplier_sku"],
                sku=row["sku"],
                quantity=row["quantity"],
                unit_cost=row["unit_cost"],
                received_at=row["received_at"],
            )
            for row in rows
        ]


class PurchaseOrderRepository:
    """The released POs and their numbers, written together before anything reads them and at the latest on
    commit (`flush`)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._orders: list[dict[str, Any]] = []
        self._lines: list[dict[str, Any]] = []
        # The last PO number handed out in this transaction (the counter row is locked by then), and the one the
        # row says.
        self._last_number: int | None = None
        self._stored_number: int | None = None

    async def flush(self) -> None:
        """Write the POs added so far and their lines, and the counter when it moved since (three statements)."""
        if self._last_number != self._stored_number:
            await self._session.execute(_STORE_PO_NUMBER, {"last": self._last_number})
            self._stored_number = self._last_number
        if self._orders:
            orders, lines, self._orders, self._lines = self._orders, self._lines, [], []
            await insert_many(self._session, purchase_orders, orders)
            await insert_many(self._session, purchase_order_lines, lines)

    async def next_numbers(self, count: int) -> list[str]:
        """Hand out `count` PO numbers; the counter row lock, taken by the transaction's first numbers (one
        statement; two more the first time ever), keeps replicas from colliding; the later ones are counted here
        and written once (`flush`)."""
        if self._last_number is None:
            last = await self._session.scalar(_NEXT_PO_NUMBERS, {"count": count})
            if last is None:
                await insert_many(self._session, po_counter, [{"id": 1, "last_number": 0}], ignore_duplicates=True)
                last = await self._session.scalar(_NEXT_PO_NUMBERS, {"count": count})
            self._last_number = self._stored_number = int(last)
        else:
            self._last_number += count
        first = self._last_number - count + 1
        return [f"PO{number:08d}" for number in range(first, first + count)]

    def add(self, po_number: str, draft: PurchaseOrderDraft) -> dict[str, int]:
        """A released PO, to be stored with the transaction's other POs (see `flush`); returns the PO line number
        of each customer backorder line."""
        self._orders.append(
            {
                "po_number": po_number,
                "supplier_id": draft.supplier_id,
                "created_at": draft.created_at,
                "release_reason": draft.release_reason,
                "below_minimum": draft.below_minimum,
                "policy_version": draft.policy_version,
                "part": draft.part,
                "parts": draft.parts,
                "total_units": draft.total_units,
                "total_value": draft.total_value,
                "release_figures": None if draft.release_figures is None else dict(draft.release_figures),
            }
        )
        self._lines.extend(
            {
                "po_number": po_number,
                "line_no": line_no,
                "backorder_line_id": line.backorder_line_id,
                "sku": line.sku,
                "supplier_sku": line.supplier_sku,
                "quantity": line.quantity,
                "unit_cost": line.unit_cost,
                "surplus": line.surplus,
            }
            for line_no, line in enumerate(draft.lines, start=1)
        )
        return {
            line.backorder_line_id: line_no
            for line_no, line in enumerate(draft.lines, start=1)
            if line.backorder_line_id is not None
        }

    async def page(self, supplier_id: str | None, limit: int, offset: int) -> Sequence[dict[str, Any]]:
        await self.flush()
        query = select(purchase_orders).order_by(purchase_orders.c.created_at.desc()).limit(limit).offset(offset)
        if supplier_id:
            query = query.where(purchase_orders.c.supplier_id == supplier_id)
        return [dict(row) for row in (await self._session.execute(query)).mappings()]

    async def headers(self, po_numbers: Sequence[str]) -> list[dict[str, Any]]:
        """The POs among `po_numbers` without their lines, newest first."""
        await self.flush()
        if not po_numbers:
            return []
        query = (
            select(purchase_orders)
            .where(purchase_orders.c.po_number.in_(list(po_numbers)))
            .order_by(purchase_orders.c.created_at.desc(), purchase_orders.c.po_number.desc())
        )
        return [dict(row) for row in (await self._session.execute(query)).mappings()]

    async def released_since(self, since: datetime) -> list[tuple[datetime, str]]:
        """When each PO released since then was released, and why."""
        await self.flush()
        rows = await self._session.execute(
            select(purchase_orders.c.created_at, purchase_orders.c.release_reason).where(
                purchase_orders.c.created_at >= since
            )
        )
        return [(created_at, reason) for created_at, reason in rows.all()]

    async def get(self, po_number: str) -> dict[str, Any] | None:
        await self.flush()
        row = (
            (await self._session.execute(select(purchase_orders).where(purchase_orders.c.po_number == po_number)))
            .mappings()
            .first()
        )
        if row is None:
            return None
        lines = (
            await self._session.execute(
                select(purchase_order_lines)
                .where(purchase_order_lines.c.po_number == po_number)
                .order_by(purchase_order_lines.c.line_no)
            )
        ).mappings()
        return {**row, "lines": [dict(line) for line in lines]}
