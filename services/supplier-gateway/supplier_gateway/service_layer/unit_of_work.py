"""The gateway's unit of work: one transaction over suppliers, purchase orders (and their dispatch queue and
polling cursors), cancellations, exceptions, X12 interchanges, outbox and inbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dropship_shared.unit_of_work import SqlUnitOfWork
from supplier_gateway.adapters.cancellation_repository import CancellationRepository
from supplier_gateway.adapters.dispatch_queue import DispatchQueue
from supplier_gateway.adapters.exception_repository import ExceptionRepository
from supplier_gateway.adapters.polling_cursors import PollingCursors
from supplier_gateway.adapters.repository import PurchaseOrderRepository, SupplierEventLog, SupplierRepository
from supplier_gateway.adapters.secret_box import SecretBox
from supplier_gateway.adapters.x12_store import X12Store
from supplier_gateway.domain.purchase_order import PurchaseOrder


class GatewayUnitOfWork(SqlUnitOfWork):
    """`secrets` seals the suppliers' signing secrets in the database."""

    suppliers: SupplierRepository
    purchase_orders: PurchaseOrderRepository
    dispatch: DispatchQueue
    polling: PollingCursors
    supplier_events: SupplierEventLog
    cancellations: CancellationRepository
    x12: X12Store
    exceptions: ExceptionRepository

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Table,
        inbox: Table,
        outbox_ready: asyncio.Event | None = None,
        *,
        secrets: SecretBox,
    ) -> None:
        super().__init__(sessions, outbox, inbox, outbox_ready)
        self._secrets = secrets

    def _open(self) -> None:
        self.suppliers = SupplierRepository(self.session, self._secrets)
        self.purchase_orders = PurchaseOrderRepository(self.session, self.collect)
        self.dispatch = DispatchQueue(self.session)
        self.polling = PollingCursors(self.session)
        self.supplier_events = SupplierEventLog(self.session)
        self.cancellations = CancellationRepository(self.session)
        self.x12 = X12Store(self.session)
        self.exceptions = ExceptionRepository(self.session, self.collect)

    @asynccontextmanager
    async def changing(self, po: PurchaseOrder) -> AsyncIterator[PurchaseOrder]:
        """A change of a PO loaded in this unit of work: what it raises follows the PO's own trace (its
        correlation id), and the PO is saved after it (not when the change raises: nothing is written)."""
        self.correlation_id = po.correlation_id
        yield po
        await self.purchase_orders.save(po)
