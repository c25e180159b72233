"""The backorder figures API, for the dashboard and for stocking decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status

from dropship_shared.events import utcnow
from orders.entrypoints.deps import ReadUow
from orders.entrypoints.schemas import BackorderFiguresOut, BackorderMetricsOut
from orders.service_layer import views

router = APIRouter(tags=["metrics"])
MAX_WINDOW = timedelta(days=3660)


@router.get(
    "/metrics/backorders",
    summary="Backorder rate, open backorders by age, fill time p50/p90, slipped promises and days slipped "
    "p50/p90, consolation credits, cancellations",
)
async def get_backorder_metrics(
    uow: ReadUow,
    start: Annotated[datetime | None, Query(alias="from", description="inclusive; default: 30 days ago")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="exclusive; default: now")] = None,
    group_by: Literal["sku", "supplier", "day", "all"] = "sku",
) -> BackorderMetricsOut:
    end = _aware(end) if end else utcnow()
    start = _aware(start) if start else end - timedelta(days=30)
    if start >= end or end - start > MAX_WINDOW:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="'from' must precede 'to', within 10 years")
    figures = await views.backorder_metrics(uow, start, end, group_by)
    return BackorderMetricsOut(
        start=start,
        end=end,
        group_by=group_by,
        groups=[
            BackorderFiguresOut(
                group=f.group,
                ordered_units=f.ordered_units,
                backordered_units=f.backordered_units,
                backordered_lines=f.backordered_lines,
                backorder_rate=round(f.backorder_rate, 4),
                open_backorders=f.open_backorders,
                open_units=f.open_units,
                open_by_age=f.open_by_age,
                fill_time_hours_p50=f.fill_time_percentile(50),
                fill_time_hours_p90=f.fill_time_percentile(90),
                filled_lines=len(f.fill_hours),
                slipped_promises=f.slipped_promises,
                slip_days_p50=f.slip_days_percentile(50),
                slip_days_p90=f.slip_days_percentile(90),
                credits_issued=f.credits_issued,
                credits_amount=f.credits_amount,
                cancelled_while_waiting=f.cancelled_while_waiting,
            )
            for f in figures
        ],
    )


def _aware(moment: datetime) -> datetime:
    """A time without a zone is taken as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
