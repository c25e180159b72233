"""The aggregator unit of work: one transaction over suppliers, lines, purchase orders, outbox and inbox."""

from __future__ import annotations

import asyncio

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aggregator.adapters.repository import (
    BackorderLineRepository,
    PurchaseOrderRepository,
    RecentLineDetails,
    SupplierRepository,
)
from dropship_shared.unit_of_work import SqlUnitOfWork


class AggregatorUnitOfWork(SqlUnitOfWork):
    suppliers: SupplierRepository
    lines: BackorderLineRepository
    purchase_orders: PurchaseOrderRepository

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Table,
        inbox: Table,
        outbox_ready: asyncio.Event | None = None,
        recent_lines: RecentLineDetails | None = None,
    ) -> None:
        super().__init__(sessions, outbox, inbox, outbox_ready)
        self._recent_lines = recent_lines  # the process's, shared by its transactions

    def _open(self) -> None:
        self.suppliers = SupplierRepository(self.session)
        self.lines = BackorderLineRepository(self.session, self._recent_lines)
        self.purchase_orders = PurchaseOrderRepository(self.session)

    async def commit(self) -> None:
        # The POs released in this transaction and their lines are written together, once.
        await self.purchase_orders.flush()
        await self.lines.flush()
        await super().commit()
        self.lines.committed()
