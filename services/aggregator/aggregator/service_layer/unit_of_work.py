"""The aggregator unit of work: one transaction over suppliers, lines, purchase orders, outbox and inbox."""

from __future__ import annotations

from aggregator.adapters.repository import BackorderLineRepository, PurchaseOrderRepository, SupplierRepository
from dropship_shared.unit_of_work import SqlUnitOfWork


class AggregatorUnitOfWork(SqlUnitOfWork):
    suppliers: SupplierRepository
    lines: BackorderLineRepository
    purchase_orders: PurchaseOrderRepository

    def _open(self) -> None:
        self.suppliers = SupplierRepository(self.session)
        self.lines = BackorderLineRepository(self.session)
        self.purchase_orders = PurchaseOrderRepository(self.session)

    async def commit(self) -> None:
        # The POs released in this transaction and their lines are written together, once.
        await self.purchase_orders.flush()
        await self.lines.flush()
        await super().commit()
