"""Builders for the aggregator domain tests: lines, policies and a fixed clock."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aggregator.domain import PendingLine, SkuRule, SupplierPolicy

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
SUPPLIER = "acme"


def line(
    line_id: str,
    quantity: int = 1,
    *,
    supplier_sku: str = "S-1",
    cost: str = "10",
    at: datetime = T0,
    details: Mapping[str, object] | None = None,
) -> PendingLine:
    return PendingLine(
        backorder_line_id=line_id,
        supplier_sku=supplier_sku,
        sku=f"our-{supplier_sku}",
        quantity=quantity,
        unit_cost=Decimal(cost),
        received_at=at,
        details=details or {"ship_to": f"customer of {line_id}"},
    )


def policy(
    *,
    min_units: int = 0,
    min_value: str = "0",
    max_wait: timedelta = timedelta(hours=48),
    sku_rules: Mapping[str, SkuRule] | None = None,
    **more: Any,
) -> SupplierPolicy:
    return SupplierPolicy(
        supplier_id=SUPPLIER,
        min_units=min_units,
        min_value=Decimal(min_value),
        max_wait=max_wait,
        sku_rules=sku_rules or {},
        **more,
    )
