"""Supplier policies to and from their stored JSON form."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from aggregator.domain.policy import Cutoff, PriceBreak, SkuRule, SupplierPolicy


def policy_to_json(policy: SupplierPolicy) -> dict[str, Any]:
    return {
        "min_units": policy.min_units,
        "min_value": str(policy.min_value),
        "max_wait_seconds": int(policy.max_wait.total_seconds()),
        "on_deadline": policy.on_deadline,
        "sku_rules": {
            supplier_sku: {
                "min_qty": rule.min_qty,
                "case_pack": rule.case_pack,
                "remainder": rule.remainder,
                "price_breaks": [
                    {"min_qty": tier.min_qty, "unit_cost": str(tier.unit_cost)} for tier in rule.price_breaks
                ],
            }
            for supplier_sku, rule in policy.sku_rules.items()
        },
        "cutoff": (
            {"local_time": policy.cutoff.local_time, "time_zone": policy.cutoff.time_zone} if policy.cutoff else None
        ),
        "max_lines_per_po": policy.max_lines_per_po,
        "small_order_fee": None if policy.small_order_fee is None else str(policy.small_order_fee),
        "delay_cost_per_line_day": str(policy.delay_cost_per_line_day),
    }


def policy_from_json(supplier_id: str, version: int, data: dict[str, Any]) -> SupplierPolicy:
    """Build (and so validate) a policy; raises PolicyError naming the bad field."""
    cutoff = data.get("cutoff")
    return SupplierPolicy(
        supplier_id=supplier_id,
        version=version,
        min_units=int(data.get("min_units", 0)),
        min_value=Decimal(str(data.get("min_value", "0"))),
        max_wait=timedelta(seconds=int(data["max_wait_seconds"])),
        on_deadline=data.get("on_deadline", "release"),
        sku_rules={
            supplier_sku: SkuRule(
                min_qty=int(rule.get("min_qty", 0)),
                case_pack=int(rule.get("case_pack", 1)),
                remainder=rule.get("remainder", "wait"),
                price_breaks=tuple(
                    PriceBreak(int(tier["min_qty"]), Decimal(str(tier["unit_cost"])))
                    for tier in rule.get("price_breaks", [])
                ),
            )
            for supplier_sku, rule in (data.get("sku_rules") or {}).items()
        },
        cutoff=Cutoff(cutoff["local_time"], cutoff["time_zone"]) if cutoff else None,
        max_lines_per_po=data.get("max_lines_per_po"),
        small_order_fee=None if data.get("small_order_fee") is None else Decimal(str(data["small_order_fee"])),
        delay_cost_per_line_day=Decimal(str(data.get("delay_cost_per_line_day", "0"))),
    )


def default_policy(supplier_id: str, max_wait_seconds: int) -> SupplierPolicy:
    """Until someone configures a supplier: no minimum, so every backorder is ordered at once."""
    return SupplierPolicy(supplier_id=supplier_id, max_wait=timedelta(seconds=max_wait_seconds))
