"""Line cancellation requests waiting for (or resolved by) the supplier's answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from supplier_gateway.adapters.orm import line_cancellations
from supplier_gateway.adapters.repository import insert_ignoring_duplicates, lease_rows


@dataclass(frozen=True)
class LineCancellationRequest:
    request_id: int
    po_number: str
    supplier_id: str
    backorder_line_id: str
    line_no: int
    quantity: int
    request_event_id: str
    attempts: int


class CancellationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        po_number: str,
        supplier_id: str,
        backorder_line_id: str,
        line_no: int,
        quantity: int,
        request_event_id: str,
        at: datetime,
    ) -> bool:
        return await insert_ignoring_duplicates(
            self._session,
            line_cancellations,
            {
                "po_number": po_number,
                "supplier_id": supplier_id,
                "backorder_line_id": backorder_line_id,
                "line_no": line_no,
                "quantity": quantity,
                "request_event_id": request_event_id,
                "state": "pending",
                "attempts": 0,
                "requested_at": at,
            },
        )

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[LineCancellationRequest]:
        table = line_cancellations.c
        due = and_(
            table.state == "pending",
            or_(table.next_attempt_at.is_(None), table.next_attempt_at <= now),
            or_(table.lease_expires_at.is_(None), table.lease_expires_at <= now),
        )
        rows = await lease_rows(
            self._session,
            line_cancellations,
            due,
            limit,
            {"lease_expires_at": now + lease, "attempts": table.attempts + 1},
        )
        return [_request(row) for row in rows]

    async def pending_for_line(self, po_number: str, line_no: int) -> list[LineCancellationRequest]:
        """Cancel requests of a PO line still waiting for the supplier's answer (an X12 865 answers them)."""
        rows = (
            (
                await self._session.execute(
                    select(line_cancellations)
                    .where(
                        line_cancellations.c.po_number == po_number,
                        line_cancellations.c.line_no == line_no,
                        line_cancellations.c.state == "pending",
                    )
                    .order_by(line_cancellations.c.id)
                    .with_for_update()
                )
            )
            .mappings()
            .all()
        )
        return [_request(row) for row in rows]

    async def still_pending(self, request_id: int) -> bool:
        """Lock the request's row and tell whether it still waits for its answer: another replica that took it
        over after its lease ran out (a slow supplier call) may have recorded the answer meanwhile."""
        state = await self._session.scalar(
            select(line_cancellations.c.state).where(line_cancellations.c.id == request_id).with_for_update()
        )
        return state == "pending"

    async def resolve(self, request_id: int, outcome: str, at: datetime) -> None:
        await self._session.execute(
            update(line_cancellations)
            .where(line_cancellations.c.id == request_id)
            .values(state="resolved", outcome=outcome, resolved_at=at, lease_expires_at=None)
        )

    async def postpone(self, request_id: int, until: datetime, error: str) -> None:
        await self._session.execute(
            update(line_cancellations)
            .where(line_cancellations.c.id == request_id)
            .values(next_attempt_at=until, lease_expires_at=None, last_error=error[:1000])
        )


def _request(row: Any) -> LineCancellationRequest:
    return LineCancellationRequest(
        request_id=row["id"],
        po_number=row["po_number"],
        supplier_id=row["supplier_id"],
        backorder_line_id=row["backorder_line_id"],
        line_no=row["line_no"],
        quantity=row["quantity"],
        request_event_id=row["request_event_id"],
        attempts=row["attempts"] + 1,
    )
