"""Where in each polling-mode supplier's event feed we are, per open PO, and when to ask again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from supplier_gateway.adapters.orm import purchase_orders
from supplier_gateway.domain.purchase_order import PurchaseOrderState


class PollingCursors:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def due(self, supplier_ids: list[str], now: datetime, limit: int) -> list[tuple[str, str, int]]:
        """(supplier id, PO number, cursor) of open POs of polling suppliers whose turn it is."""
        open_states = [
            PurchaseOrderState.SENT.value,
            PurchaseOrderState.ACKNOWLEDGED.value,
            PurchaseOrderState.PARTIALLY_SHIPPED.value,
        ]
        rows = await self._session.execute(
            select(purchase_orders.c.supplier_id, purchase_orders.c.po_number, purchase_orders.c.poll_cursor)
            .where(
                purchase_orders.c.supplier_id.in_(supplier_ids),
                purchase_orders.c.state.in_(open_states),
                or_(purchase_orders.c.next_poll_at.is_(None), purchase_orders.c.next_poll_at <= now),
            )
            .order_by(purchase_orders.c.next_poll_at.nulls_first(), purchase_orders.c.po_number)
            .limit(limit)
        )
        return [(row[0], row[1], row[2]) for row in rows.all()]

    async def record(self, po_number: str, cursor: int, next_poll_at: datetime) -> None:
        await self._session.execute(
            update(purchase_orders)
            .where(purchase_orders.c.po_number == po_number)
            .values(poll_cursor=cursor, next_poll_at=next_poll_at)
        )
