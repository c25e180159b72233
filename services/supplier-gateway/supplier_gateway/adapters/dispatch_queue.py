"""The dispatch queue: which requested POs are due for sending, leased to one replica at a time, retried
later when their supplier is away (columns of the purchase_orders table, apart from the PO itself)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dropship_shared.db import among
from supplier_gateway.adapters.orm import purchase_orders
from supplier_gateway.domain.purchase_order import PurchaseOrderState


@dataclass(frozen=True)
class DispatchStatus:
    """The sending side of a PO (not part of the domain: it is about our own retries and replicas)."""

    send_attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    poll_cursor: int
    lease_expires_at: datetime | None

    def leased(self, now: datetime) -> bool:
        """A replica is sending the PO right now."""
        return self.lease_expires_at is not None and self.lease_expires_at > now


@dataclass(frozen=True)
class WaitingPurchaseOrders:
    count: int
    oldest_created_at: datetime
    last_error: str | None


class DispatchQueue:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def status(self, po_number: str) -> DispatchStatus | None:
        row = (
            (
                await self._session.execute(
                    select(
                        purchase_orders.c.send_attempts,
                        purchase_orders.c.next_attempt_at,
                        purchase_orders.c.last_error,
                        purchase_orders.c.poll_cursor,
                        purchase_orders.c.lease_expires_at,
                    ).where(purchase_orders.c.po_number == po_number)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return DispatchStatus(
            row["send_attempts"],
            row["next_attempt_at"],
            row["last_error"],
            row["poll_cursor"],
            row["lease_expires_at"],
        )

    async def traceparent(self, po_number: str) -> str | None:
        """The trace context the PO was requested in, which its sending continues."""
        return await self._session.scalar(
            select(purchase_orders.c.traceparent).where(purchase_orders.c.po_number == po_number)
        )

    def _due(self, now: datetime) -> Any:
        return and_(
            purchase_orders.c.state == PurchaseOrderState.REQUESTED.value,
            or_(purchase_orders.c.next_attempt_at.is_(None), purchase_orders.c.next_attempt_at <= now),
            or_(purchase_orders.c.lease_expires_at.is_(None), purchase_orders.c.lease_expires_at <= now),
        )

    async def suppliers_with_due_orders(self, now: datetime) -> list[str]:
        rows = await self._session.scalars(select(purchase_orders.c.supplier_id).where(self._due(now)).distinct())
        return sorted(rows.all())

    async def claim_due(self, supplier_id: str, owner: str, now: datetime, lease: timedelta, limit: int) -> list[str]:
        """Lease up to `limit` due POs of a supplier to `owner`: no other replica sends them while the lease
        holds (rows are locked with SKIP LOCKED on PostgreSQL; SQLite serialises the transactions)."""
        numbers = list(
            (
                await self._session.scalars(
                    select(purchase_orders.c.po_number)
                    .where(self._due(now), purchase_orders.c.supplier_id == supplier_id)
                    .order_by(purchase_orders.c.created_at, purchase_orders.c.po_number)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
        )
        if numbers:
            await self._session.execute(
                update(purchase_orders)
                .where(purchase_orders.c.po_number.in_(numbers))
                .values(
                    lease_owner=owner,
                    lease_expires_at=now + lease,
                    send_attempts=purchase_orders.c.send_attempts + 1,
                )
            )
        return numbers

    async def renew(self, owner: str, po_numbers: Iterable[str], until: datetime) -> set[str]:
        """Extend `owner`'s leases on these POs to `until`, all in one statement (a replica's heartbeat). The
        answer leaves out the POs it no longer holds: taken over by another replica after its lease ran out, or
        no longer requested (failed or cancelled meanwhile)."""
        renewed = await self._session.scalars(
            update(purchase_orders)
            .where(
                among(self._session, purchase_orders.c.po_number, po_numbers),
                purchase_orders.c.lease_owner == owner,
                purchase_orders.c.state == PurchaseOrderState.REQUESTED.value,
            )
            .values(lease_expires_at=until)
            .returning(purchase_orders.c.po_number)
        )
        return set(renewed.all())

    async def holds(self, po_number: str, owner: str) -> bool:
        """Lock the PO's row and tell whether `owner` still holds its lease: what it learnt while sending may be
        recorded only then (another replica that took the PO over records its own attempt)."""
        lease_owner = await self._session.scalar(
            select(purchase_orders.c.lease_owner).where(purchase_orders.c.po_number == po_number).with_for_update()
        )
        return lease_owner is not None and lease_owner == owner

    async def release(
        self, po_number: str, owner: str, next_attempt_at: datetime | None = None, error: str | None = None
    ) -> None:
        """Give the lease back; with `next_attempt_at`, the PO waits until then (the supplier was unavailable).
        `error` is what the attempt ended with: None after a success."""
        values: dict[str, Any] = {
            "lease_owner": None,
            "lease_expires_at": None,
            "next_attempt_at": next_attempt_at,
            "last_error": error[:1000] if error is not None else None,
        }
        await self._session.execute(
            update(purchase_orders)
            .where(purchase_orders.c.po_number == po_number, purchase_orders.c.lease_owner == owner)
            .values(values)
        )

    async def postpone_due(self, supplier_id: str, now: datetime, until: datetime, error: str) -> None:
        """Hold a supplier's due POs until `until` without claiming them (nothing was tried)."""
        await self._session.execute(
            update(purchase_orders)
            .where(self._due(now), purchase_orders.c.supplier_id == supplier_id)
            .values(next_attempt_at=until, last_error=error[:1000])
        )

    async def make_due(self, supplier_id: str) -> None:
        """A supplier's waiting POs are due now (its registry entry changed or it came off hold)."""
        await self._session.execute(
            update(purchase_orders)
            .where(
                purchase_orders.c.supplier_id == supplier_id,
                purchase_orders.c.state == PurchaseOrderState.REQUESTED.value,
            )
            .values(next_attempt_at=None)
        )

    async def waiting_by_supplier(self) -> dict[str, WaitingPurchaseOrders]:
        """Per supplier: its POs not placed yet, the oldest of them, and what the last attempt at the oldest
        that was tried ended with."""
        requested = purchase_orders.c.state == PurchaseOrderState.REQUESTED.value
        counts = await self._session.execute(
            select(purchase_orders.c.supplier_id, func.count(), func.min(purchase_orders.c.created_at))
            .where(requested)
            .group_by(purchase_orders.c.supplier_id)
        )
        errors = await self._session.execute(
            select(purchase_orders.c.supplier_id, purchase_orders.c.last_error)
            .where(requested, purchase_orders.c.last_error.is_not(None))
            .order_by(purchase_orders.c.created_at.desc())
        )
        last_error: dict[str, str] = {}
        for supplier_id, error in errors.all():
            last_error.setdefault(supplier_id, error)
        return {
            supplier_id: WaitingPurchaseOrders(count, oldest, last_error.get(supplier_id))
            for supplier_id, count, oldest in counts.all()
        }

    async def failed_by_supplier(self) -> dict[str, int]:
        """Per supplier: its POs that failed (refused, or given up on) and were not retried."""
        rows = await self._session.execute(
            select(purchase_orders.c.supplier_id, func.count())
            .where(purchase_orders.c.state == PurchaseOrderState.FAILED.value)
            .group_by(purchase_orders.c.supplier_id)
        )
        return {supplier_id: count for supplier_id, count in rows.all()}

    async def send_now(self, po_number: str) -> None:
        """An operator wants a waiting PO tried now, not at its next retry time."""
        await self._session.execute(
            update(purchase_orders)
            .where(
                purchase_orders.c.po_number == po_number,
                purchase_orders.c.state == PurchaseOrderState.REQUESTED.value,
            )
            .values(next_attempt_at=None)
        )

    async def reset(self, po_number: str) -> None:
        await self._session.execute(
            update(purchase_orders)
            .where(purchase_orders.c.po_number == po_number)
            .values(next_attempt_at=None, lease_owner=None, lease_expires_at=None, send_attempts=0, last_error=None)
        )
