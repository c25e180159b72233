"""Watches for late shipments: a line the supplier acknowledged to ship by a date that passed (plus a grace)
with no shipment notice opens an exception and moves the customer's promise, once per acknowledged date."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from dropship_shared.events import utcnow
from dropship_shared.logs import get_logger
from dropship_shared.unit_of_work import UnitOfWorkFactory
from supplier_gateway.service_layer.supplier_exceptions import file_exception
from supplier_gateway.service_layer.unit_of_work import GatewayUnitOfWork

log = get_logger(__name__)


@dataclass(frozen=True)
class LatenessPolicy:
    interval_seconds: float = 3600.0
    grace_days: int = 2
    batch_size: int = 200


class LateShipmentWatch:
    def __init__(self, uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], policy: LatenessPolicy) -> None:
        self._uow = uow_factory
        self._policy = policy

    async def run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self._policy.interval_seconds)

    async def check(self) -> int:
        """Report every late line not reported for its acknowledged date yet; returns how many."""
        today = utcnow().date()
        async with self._uow() as uow:
            candidates = await uow.purchase_orders.with_ship_dates_before(
                today - timedelta(days=self._policy.grace_days), self._policy.batch_size
            )
        reported = 0
        for po_number in candidates:
            async with self._uow() as uow:
                po = await uow.purchase_orders.get(po_number, for_update=True)
                if po is None:
                    continue
                uow.correlation_id = po.correlation_id
                now = utcnow()
                for line in po.late_lines(today, self._policy.grace_days):
                    anomaly, event = po.lateness(line, today, self._policy.grace_days)
                    source = f"ship date {line.expected_ship_date}"
                    if await file_exception(uow, anomaly, po.supplier_id, po_number, source, now):
                        uow.emit(event)
                        reported += 1
                await uow.commit()
        if reported:
            log.warning("late shipments reported", count=reported)
        return reported
