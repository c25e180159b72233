"""The backorder figures: rate, open backorders by age, fill time percentiles, slips and cancellations."""

from __future__ import annotations

from datetime import timedelta

from orders_factories import NOW, day

from orders.domain.backorder_figures import LineFacts, age_bucket, backorder_figures
from orders.domain.lifecycle import LineStatus


def facts(group: str, qty: int, backordered: int, status: LineStatus, age_days: int, **kw: object) -> LineFacts:
    values: dict[str, object] = {
        "group": group,
        "placed_at": NOW - timedelta(days=age_days),
        "quantity": qty,
        "backordered_qty": backordered,
        "status": status,
        "fully_shipped_at": None,
        "first_promise": None,
        "latest_promise": None,
    }
    values.update(kw)
    return LineFacts(**values)  # type: ignore[arg-type]


def test_age_buckets() -> None:
    assert [age_bucket(d) for d in (0, 7, 8, 14, 15, 30, 31)] == [
        "0-7d",
        "0-7d",
        "8-14d",
        "8-14d",
        "15-30d",
        "15-30d",
        "over_30d",
    ]


def test_figures_per_group() -> None:
    lines = [
        facts("CHAIR", 4, 0, LineStatus.ALLOCATED, 1),
        facts("CHAIR", 4, 2, LineStatus.BACKORDERED, 3),
        facts("CHAIR", 2, 2, LineStatus.ON_PURCHASE_ORDER, 10, first_promise=day(5), latest_promise=day(9)),
        facts("CHAIR", 1, 1, LineStatus.CANCELLED, 40),
        facts("CHAIR", 1, 1, LineStatus.SHIPPED, 20, fully_shipped_at=NOW - timedelta(days=18)),
        facts("CHAIR", 1, 1, LineStatus.DELIVERED, 20, fully_shipped_at=NOW - timedelta(days=10)),
        facts("TABLE", 1, 1, LineStatus.BACKORDERED, 0),
    ]
    chair, table = backorder_figures(lines, NOW)
    assert chair.group == "CHAIR"
    assert (chair.ordered_units, chair.backordered_units, chair.backordered_lines) == (13, 7, 5)
    assert round(chair.backorder_rate, 4) == round(7 / 13, 4)
    assert (chair.open_backorders, chair.open_units) == (2, 4)
    assert chair.open_by_age == {"0-7d": 1, "8-14d": 1, "15-30d": 0, "over_30d": 0}
    assert chair.fill_hours == [48.0, 240.0]
    assert (chair.fill_time_percentile(50), chair.fill_time_percentile(90)) == (48.0, 240.0)
    assert (chair.slipped_promises, chair.cancelled_while_waiting) == (1, 1)
    assert (table.backorder_rate, table.fill_time_percentile(50)) == (1.0, None)
