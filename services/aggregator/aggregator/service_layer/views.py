"""Read models for the API and the dashboard (queries only, no locks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aggregator.adapters.repository import SupplierRecord
from aggregator.entrypoints.schemas import SupplierStatus
from aggregator.service_layer.batches import BatchCache
from aggregator.service_layer.unit_of_work import AggregatorUnitOfWork
from dropship_shared.events import utcnow


def supplier_status(record: SupplierRecord, cache: BatchCache, now: datetime) -> SupplierStatus:
    policy = cache.policy_of(record)
    oldest = record.oldest_received_at
    return SupplierStatus(
        supplier_id=record.supplier_id,
        name=record.name,
        configured=record.configured,
        policy_version=record.policy_version,
        held=record.held,
        escalated=record.escalated_at is not None,
        pending_lines=record.pending_lines,
        pending_units=record.pending_units,
        pending_value=record.pending_value,
        min_units=policy.min_units,
        min_value=policy.min_value,
        # What a release by minimum would order now, as the release decision counts it (per-SKU minimums,
        # whole case packs, tier prices): stored with each change of the batch by the same domain code.
        releasable_units=record.releasable_units,
        releasable_value=record.releasable_value,
        units_progress=min(1.0, record.releasable_units / policy.min_units) if policy.min_units else 1.0,
        value_progress=min(1.0, float(record.releasable_value / policy.min_value)) if policy.min_value else 1.0,
        minimum_met=record.minimum_met,
        blocked_by=record.blocked_by if record.blocked_by is not None else ["empty"],
        oldest_received_at=oldest,
        oldest_age_seconds=(now - oldest).total_seconds() if oldest else None,
        deadline=oldest + policy.max_wait if oldest else None,
        expected_release_at=record.expected_release_at,
        next_check_at=record.next_check_at,
    )


async def suppliers(uow: AggregatorUnitOfWork, cache: BatchCache) -> list[SupplierStatus]:
    now = utcnow()
    async with uow:
        return [supplier_status(record, cache, now) for record in await uow.suppliers.all()]


async def supplier(uow: AggregatorUnitOfWork, cache: BatchCache, supplier_id: str) -> SupplierStatus | None:
    async with uow:
        record = await uow.suppliers.get(supplier_id)
    return supplier_status(record, cache, utcnow()) if record else None


async def pending_lines(uow: AggregatorUnitOfWork, supplier_id: str) -> list[dict[str, Any]]:
    async with uow:
        lines = await uow.lines.pending_for(supplier_id)
    return [
        {
            "backorder_line_id": line.backorder_line_id,
            "sku": line.sku,
            "supplier_sku": line.supplier_sku,
            "quantity": line.quantity,
            "unit_cost": line.unit_cost,
            "received_at": line.received_at,
            "customer_ref": line.details.get("customer_ref"),
        }
        for line in lines
    ]
