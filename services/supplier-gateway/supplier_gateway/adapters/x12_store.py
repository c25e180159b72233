"""X12 bookkeeping: per-partner control numbers (never reused) and the interchanges we sent and received."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from supplier_gateway.adapters.orm import x12_control_numbers, x12_interchanges
from supplier_gateway.adapters.repository import insert_ignoring_duplicates, lease_rows


@dataclass(frozen=True)
class StoredInterchange:
    supplier_id: str
    direction: str
    sender_id: str
    control_number: str
    kind: str
    po_number: str | None
    group_control_number: str | None
    status: str
    body: str
    reply: str | None
    reply_delivery: str | None = None  # inbound: "pending" / "sent" to the partner's endpoint; None: in the answer


@dataclass(frozen=True)
class ReplyToSend:
    """Our 997/TA1 for an interchange received, owed to the partner's acknowledgement endpoint."""

    interchange_id: int
    supplier_id: str
    control_number: str  # the partner's ISA13 it answers
    reply: str


class X12Store:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def next_control_number(self, supplier_id: str) -> int:
        """The next control number for this trading partner: the row update locks it until commit, so
        replicas never hand out the same number (SQLite serialises the transactions anyway)."""
        await insert_ignoring_duplicates(
            self._session, x12_control_numbers, {"supplier_id": supplier_id, "last_control_number": 0}
        )
        counter = x12_control_numbers.c.last_control_number
        await self._session.execute(
            update(x12_control_numbers)
            .where(x12_control_numbers.c.supplier_id == supplier_id)
            .values(last_control_number=counter + 1)
        )
        value = await self._session.scalar(select(counter).where(x12_control_numbers.c.supplier_id == supplier_id))
        return int(value or 0)

    async def add(self, interchange: StoredInterchange, at: datetime) -> bool:
        """False when this (direction, sender, ISA13) was stored before: a duplicate interchange."""
        return await insert_ignoring_duplicates(
            self._session, x12_interchanges, {**interchange.__dict__, "created_at": at}
        )

    async def forget_rejected(self, sender_id: str, control_number: str) -> None:
        """Drop a rejected inbound interchange: the partner sent it again (corrected) under the same ISA13."""
        await self._session.execute(
            delete(x12_interchanges).where(
                x12_interchanges.c.direction == "inbound",
                x12_interchanges.c.sender_id == sender_id,
                x12_interchanges.c.control_number == control_number,
                x12_interchanges.c.status == "rejected",
            )
        )

    async def outbound_purchase_order(self, po_number: str) -> StoredInterchange | None:
        return await self._first(
            select(x12_interchanges).where(
                x12_interchanges.c.direction == "outbound",
                x12_interchanges.c.kind == "850",
                x12_interchanges.c.po_number == po_number,
                x12_interchanges.c.status != "rejected",  # a refused 850 is rebuilt (new ISA13) on retry
            )
        )

    async def outbound_documents(self, kind: str, po_number: str) -> list[StoredInterchange]:
        """What we sent of one kind (e.g. the 860s) for a PO, oldest first."""
        rows = (
            (
                await self._session.execute(
                    select(x12_interchanges)
                    .where(
                        x12_interchanges.c.direction == "outbound",
                        x12_interchanges.c.kind == kind,
                        x12_interchanges.c.po_number == po_number,
                    )
                    .order_by(x12_interchanges.c.id)
                )
            )
            .mappings()
            .all()
        )
        return [_stored(row) for row in rows]

    async def inbound(self, sender_id: str, control_number: str) -> StoredInterchange | None:
        return await self._first(
            select(x12_interchanges).where(
                x12_interchanges.c.direction == "inbound",
                x12_interchanges.c.sender_id == sender_id,
                x12_interchanges.c.control_number == control_number,
            )
        )

    async def outbound_by_group(self, supplier_id: str, group_control_number: str) -> StoredInterchange | None:
        """Our interchange carrying this group (what a partner's 997 or TA1 answers), if we sent it."""
        return await self._first(
            select(x12_interchanges).where(
                x12_interchanges.c.direction == "outbound",
                x12_interchanges.c.supplier_id == supplier_id,
                x12_interchanges.c.group_control_number == (group_control_number.lstrip("0") or "0"),
            )
        )

    async def acknowledge_outbound(
        self, supplier_id: str, group_control_number: str, status: str
    ) -> StoredInterchange | None:
        """A partner's 997 or TA1 answered our group: mark the interchange and return it, if found."""
        found = await self.outbound_by_group(supplier_id, group_control_number)
        if found is None:
            return None
        await self._session.execute(
            update(x12_interchanges)
            .where(
                x12_interchanges.c.direction == "outbound",
                x12_interchanges.c.sender_id == found.sender_id,
                x12_interchanges.c.control_number == found.control_number,
            )
            .values(status=status)
        )
        return found

    async def claim_replies(self, now: datetime, lease: timedelta, limit: int) -> list[ReplyToSend]:
        """Lease up to `limit` replies owed to partners' endpoints (SKIP LOCKED: one replica sends each)."""
        table = x12_interchanges.c
        due = and_(
            table.reply_delivery == "pending",
            or_(table.reply_lease_expires_at.is_(None), table.reply_lease_expires_at <= now),
        )
        rows = await lease_rows(self._session, x12_interchanges, due, limit, {"reply_lease_expires_at": now + lease})
        return [ReplyToSend(row["id"], row["supplier_id"], row["control_number"], row["reply"]) for row in rows]

    async def reply_delivered(self, interchange_id: int) -> None:
        await self._session.execute(
            update(x12_interchanges)
            .where(x12_interchanges.c.id == interchange_id)
            .values(reply_delivery="sent", reply_lease_expires_at=None)
        )

    async def reply_postponed(self, interchange_id: int, until: datetime) -> None:
        """The partner's endpoint did not take it: try again after `until`."""
        await self._session.execute(
            update(x12_interchanges).where(x12_interchanges.c.id == interchange_id).values(reply_lease_expires_at=until)
        )

    async def recent(self, supplier_id: str | None = None, limit: int = 100) -> list[StoredInterchange]:
        query = select(x12_interchanges).order_by(x12_interchanges.c.id.desc()).limit(limit)
        if supplier_id is not None:
            query = query.where(x12_interchanges.c.supplier_id == supplier_id)
        rows = (await self._session.execute(query)).mappings().all()
        return [_stored(row) for row in rows]

    async def _first(self, query: Any) -> StoredInterchange | None:
        row = (await self._session.execute(query)).mappings().first()
        return _stored(row) if row else None


def _stored(row: Any) -> StoredInterchange:
    return StoredInterchange(
        supplier_id=row["supplier_id"],
        direction=row["direction"],
        sender_id=row["sender_id"],
        control_number=row["control_number"],
        kind=row["kind"],
        po_number=row["po_number"],
        group_control_number=row["group_control_number"],
        status=row["status"],
        body=row["body"],
        reply=row["reply"],
        reply_delivery=row["reply_delivery"],
    )
