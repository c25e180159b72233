"""The gateway's unit of work: one transaction over suppliers, purchase orders (and their dispatch queue and
polling cursors), cancellations, exceptions, X12 interchanges, outbox and inbox."""

from __future__ import annotations

from dropship_shared.unit_of_work import SqlUnitOfWork
from supplier_gateway.adapters.cancellation_repository import CancellationRepository
from supplier_gateway.adapters.dispatch_queue import DispatchQueue
from supplier_gateway.adapters.exception_repository import ExceptionRepository
from supplier_gateway.adapters.polling_cursors import PollingCursors
from supplier_gateway.adapters.repository import PurchaseOrderRepository, SupplierEventLog, SupplierRepository
from supplier_gateway.adapters.x12_store import X12Store


class GatewayUnitOfWork(SqlUnitOfWork):
    suppliers: SupplierRepository
    purchase_orders: PurchaseOrderRepository
    dispatch: DispatchQueue
    polling: PollingCursors
    supplier_events: SupplierEventLog
    cancellations: CancellationRepository
    x12: X12Store
    exceptions: ExceptionRepository

    def _open(self) -> None:
        self.suppliers = SupplierRepository(self.session)
        self.purchase_orders = PurchaseOrderRepository(self.session)
        self.dispatch = DispatchQueue(self.session)
        self.polling = PollingCursors(self.session)
        self.supplier_events = SupplierEventLog(self.session)
        self.cancellations = CancellationRepository(self.session)
        self.x12 = X12Store(self.session)
        self.exceptions = ExceptionRepository(self.session)
