"""The exceptions inbox in the database: filed once per anomaly, listed by filters, resolved with a note."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dropship_shared.unit_of_work import CollectEvents
from supplier_gateway.adapters.orm import supplier_exceptions
from supplier_gateway.adapters.repository import insert_ignoring_duplicates
from supplier_gateway.domain.supplier_exception import DeadLetterSource, ExceptionKind, SupplierException


@dataclass(frozen=True)
class ExceptionFilter:
    kind: ExceptionKind | None = None
    supplier_id: str | None = None
    po_number: str | None = None
    order_id: str | None = None
    open: bool | None = None  # None: open and resolved
    limit: int = 100


class ExceptionRepository:
    """`collect` is the unit of work's: a filed or resolved exception's events go to the outbox with the commit."""

    def __init__(self, session: AsyncSession, collect: CollectEvents) -> None:
        self._session = session
        self._collect = collect

    async def add(self, found: SupplierException) -> bool:
        """False when the same anomaly (same dedupe key) was filed before (then nothing is said of it)."""
        added = await insert_ignoring_duplicates(
            self._session,
            supplier_exceptions,
            {
                "exception_id": found.exception_id,
                "kind": found.kind.value,
                "supplier_id": found.supplier_id,
                "po_number": found.po_number,
                "line_no": found.line_no,
                "backorder_line_id": found.backorder_line_id,
                "order_id": found.order_id,
                "detail": found.detail,
                "received": found.received,
                "opened_at": found.opened_at,
                "dedupe_key": found.dedupe_key,
                "queue": found.dead_letter.queue if found.dead_letter else None,
                "routing_key": found.dead_letter.routing_key if found.dead_letter else None,
                "message_id": found.dead_letter.message_id if found.dead_letter else None,
            },
        )
        if added:
            self._collect(found)
        return added

    async def get(self, exception_id: str, for_update: bool = False) -> SupplierException | None:
        query = select(supplier_exceptions).where(supplier_exceptions.c.exception_id == exception_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        return _exception(row) if row is not None else None

    async def search(self, where: ExceptionFilter) -> list[SupplierException]:
        table = supplier_exceptions.c
        query = select(supplier_exceptions).order_by(table.opened_at.desc(), table.exception_id).limit(where.limit)
        if where.kind is not None:
            query = query.where(table.kind == where.kind.value)
        for column, value in (
            (table.supplier_id, where.supplier_id),
            (table.po_number, where.po_number),
            (table.order_id, where.order_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if where.open is not None:
            query = query.where(table.resolved_at.is_(None) if where.open else table.resolved_at.is_not(None))
        rows = (await self._session.execute(query)).mappings().all()
        return [_exception(row) for row in rows]

    async def open_by_supplier(self) -> dict[str, int]:
        table = supplier_exceptions.c
        rows = await self._session.execute(
            select(table.supplier_id, func.count())
            .where(table.resolved_at.is_(None), table.supplier_id.is_not(None))  # a dead letter names no supplier
            .group_by(table.supplier_id)
        )
        return {supplier_id: count for supplier_id, count in rows.all()}

    async def save_resolution(self, found: SupplierException) -> None:
        await self._session.execute(
            update(supplier_exceptions)
            .where(supplier_exceptions.c.exception_id == found.exception_id)
            .values(resolved_at=found.resolved_at, resolution_note=found.resolution_note)
        )
        self._collect(found)


def _exception(row: Any) -> SupplierException:
    return SupplierException(
        exception_id=row["exception_id"],
        kind=ExceptionKind(row["kind"]),
        supplier_id=row["supplier_id"],
        detail=row["detail"],
        opened_at=row["opened_at"],
        dedupe_key=row["dedupe_key"],
        po_number=row["po_number"],
        line_no=row["line_no"],
        backorder_line_id=row["backorder_line_id"],
        order_id=row["order_id"],
        received=row["received"],
        resolved_at=row["resolved_at"],
        resolution_note=row["resolution_note"],
        dead_letter=DeadLetterSource(row["queue"], row["routing_key"] or "", row["message_id"])
        if row["queue"] is not None
        else None,
    )
