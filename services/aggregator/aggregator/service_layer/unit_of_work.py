"""The aggregator unit of work: one transaction over suppliers, lines, purchase orders, outbox and inbox."""

from __future__ import annotations

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
    # The process's recent line details, shared by its transactions (set by its unit of work factory); None: a
    # release reads the details of every line it did not store itself.
    recent_lines: RecentLineDetails | None = None

    def _open(self) -> None:
        self.suppliers = SupplierRepository(self.session)
        self.lines = BackorderLineRepository(self.session, self.recent_lines)
        self.purchase_orders = PurchaseOrderRepository(self.session)

    async def commit(self) -> None:
        # The POs released in this transaction and their lines are written together, once.
        await self.purchase_orders.flush()
        await self.lines.flush()
        await super().commit()
        self.lines.committed()
