"""Polling mode: for suppliers that send no callbacks, read each open PO's event feed and apply it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from dropship_shared.events import utcnow
from dropship_shared.logs import get_logger
from dropship_shared.unit_of_work import UnitOfWorkFactory
from supplier_gateway.domain.purchase_order import PurchaseOrderError
from supplier_gateway.service_layer.errors import PurchaseOrderNotFound, ReplayedEvent
from supplier_gateway.service_layer.supplier_messages import apply_supplier_message
from supplier_gateway.service_layer.supplier_port import PurchaseOrderChannel, SupplierRefused, SupplierUnreachable
from supplier_gateway.service_layer.unit_of_work import GatewayUnitOfWork

log = get_logger(__name__)


@dataclass(frozen=True)
class PollingPolicy:
    interval_seconds: float = 30.0
    batch_size: int = 50


class SupplierFeedPoller:
    def __init__(
        self, uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], http: PurchaseOrderChannel, policy: PollingPolicy
    ) -> None:
        self._uow = uow_factory
        self._http = http
        self._policy = policy

    async def run(self) -> None:
        while True:
            await self.poll_due()
            await asyncio.sleep(min(self._policy.interval_seconds, 5.0))

    async def poll_due(self) -> int:
        """Poll every open PO of a polling supplier whose turn it is; returns how many events were applied."""
        async with self._uow() as uow:
            suppliers = {supplier.supplier_id: supplier for supplier in await uow.suppliers.polling()}
            due = await uow.polling.due(list(suppliers), utcnow(), self._policy.batch_size)
        applied = 0
        for supplier_id, po_number, cursor in due:
            next_cursor = cursor
            try:
                page = await self._http.poll(suppliers[supplier_id], po_number, cursor)
            except (SupplierRefused, SupplierUnreachable) as exc:
                log.warning("polling supplier failed", supplier_id=supplier_id, po_number=po_number, error=str(exc))
            else:
                for event in page.events:
                    try:
                        await apply_supplier_message(self._uow, supplier_id, event.event_id, event.message)
                        applied += 1
                    except ReplayedEvent:
                        continue  # applied from an earlier page (or a callback)
                    except (PurchaseOrderError, PurchaseOrderNotFound) as exc:
                        log.error("polled event refused", event_id=event.event_id, error=str(exc))
                next_cursor = page.next_cursor
            async with self._uow() as uow:
                next_poll_at = utcnow() + timedelta(seconds=self._policy.interval_seconds)
                await uow.polling.record(po_number, next_cursor, next_poll_at)
                await uow.commit()
        return applied
