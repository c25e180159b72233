"""What operations alert on in the aggregator, read when Prometheus scrapes: each supplier's batch (pending
lines and units, the age of its oldest line, held, escalated to a person).

Read from the batch's running totals on the supplier's row (kept in the transaction that changes the
batch), so one scrape reads one row per supplier and never the lines. The same on every replica: aggregate
with `max` across replicas."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aggregator.adapters.orm import suppliers
from dropship_shared.events import utcnow
from dropship_shared.metrics import age_seconds, gauge


async def batch_figures(sessions: async_sessionmaker[AsyncSession]) -> list[Any]:
    labels = ["supplier_id"]
    lines = gauge("supplier_pending_lines", "Backorder lines waiting in a supplier's batch", labels)
    units = gauge("supplier_pending_units", "Units waiting in a supplier's batch", labels)
    oldest = gauge(
        "supplier_oldest_pending_line_age_seconds",
        "Age of the oldest line waiting in a supplier's batch (0 when the batch is empty)",
        labels,
    )
    held = gauge("supplier_batch_held", "1 when an operator holds the supplier's batch", labels)
    escalated = gauge(
        "supplier_batch_escalated", "1 when the batch passed its deadline below minimum and waits for a person", labels
    )
    query = select(
        suppliers.c.supplier_id,
        suppliers.c.pending_lines,
        suppliers.c.pending_units,
        suppliers.c.oldest_received_at,
        suppliers.c.held,
        suppliers.c.escalated_at,
    ).order_by(suppliers.c.supplier_id)
    async with sessions() as session:
        rows = (await session.execute(query)).all()
    now = utcnow()
    for supplier_id, pending_lines, pending_units, oldest_received_at, is_held, escalated_at in rows:
        lines.add_metric([supplier_id], pending_lines)
        units.add_metric([supplier_id], pending_units)
        oldest.add_metric([supplier_id], age_seconds(oldest_received_at, now) if pending_lines else 0.0)
        held.add_metric([supplier_id], 1 if is_held else 0)
        escalated.add_metric([supplier_id], 1 if escalated_at is not None and pending_lines else 0)
    return [lines, units, oldest, held, escalated]
