"""The aggregator API's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dropship_shared.inputs import NO_NUL, Amount, PlainMoney, StrictBody, Text

MAX_UNITS = 10_000_000  # far above any real minimum or case pack, and within a 32-bit integer column


class SupplierIn(StrictBody):
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)


class PriceBreakIn(StrictBody):
    min_qty: int = Field(ge=1, le=MAX_UNITS)
    unit_cost: Amount


class SkuRuleIn(StrictBody):
    min_qty: int = Field(default=0, ge=0, le=MAX_UNITS)
    case_pack: int = Field(default=1, ge=1, le=MAX_UNITS, description="the SKU is sold in multiples of this")
    remainder: Literal["wait", "round_up"] = Field(
        default="wait", description="need not a multiple of the case pack: wait for demand, or round up to stock"
    )
    price_breaks: list[PriceBreakIn] = Field(default_factory=list, max_length=50)


class CutoffIn(StrictBody):
    local_time: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["15:30"])
    time_zone: str = Field(min_length=1, max_length=64, pattern=NO_NUL, examples=["America/Chicago"])


class PolicyIn(StrictBody):
    min_units: int = Field(default=0, ge=0, le=MAX_UNITS, description="minimum units per PO (batch total); 0 = none")
    min_value: Amount = Decimal(0)
    max_wait_seconds: int = Field(gt=0, le=90 * 24 * 3600)
    on_deadline: Literal["release", "escalate"] = "release"
    sku_rules: dict[Text, SkuRuleIn] = Field(default_factory=dict, max_length=10_000)
    cutoff: CutoffIn | None = None
    max_lines_per_po: int | None = Field(default=None, ge=1, le=10_000)
    small_order_fee: Amount | None = Field(
        default=None, description="what the supplier charges to ship a PO below its minimums; none: it does not"
    )
    delay_cost_per_line_day: Amount = Field(
        default=Decimal(0), description="what a backorder line waiting one more day costs the merchant"
    )


class PolicyOut(PolicyIn):
    model_config = ConfigDict(extra="ignore")
    version: int


class SupplierStatus(BaseModel):
    supplier_id: str
    name: str
    configured: bool
    policy_version: int
    held: bool
    escalated: bool
    pending_lines: int
    pending_units: int
    pending_value: PlainMoney
    min_units: int
    min_value: PlainMoney
    releasable_units: int = Field(description="units a release by minimum would order now (surplus included)")
    releasable_value: PlainMoney = Field(description="their value at the supplier's tier prices")
    units_progress: float = Field(description="releasable_units / min_units (1.0 without a unit minimum)")
    value_progress: float = Field(description="releasable_value / min_value (1.0 without a value minimum)")
    minimum_met: bool
    blocked_by: list[str] = Field(
        description="what stops a release by minimum now: empty, held, min_units, min_value, nothing_releasable, "
        "'<supplier_sku>: min_qty', '<supplier_sku>: case_pack' (SKUs whose units do not count, while the minimum "
        "is not met), cutoff; empty when it would release"
    )
    oldest_received_at: datetime | None
    oldest_age_seconds: float | None
    deadline: datetime | None
    expected_release_at: datetime | None
    next_check_at: datetime | None


class PurchaseOrderLineOut(BaseModel):
    line_no: int
    backorder_line_id: str | None
    sku: str
    supplier_sku: str
    quantity: int
    unit_cost: PlainMoney
    surplus: bool


class PurchaseOrderOut(BaseModel):
    po_number: str
    supplier_id: str
    created_at: datetime
    release_reason: str
    below_minimum: bool
    policy_version: int
    part: int
    parts: int
    total_units: int
    total_value: PlainMoney
    release_figures: dict[str, str] | None = Field(
        default=None, description="a release for the small-order fee: the waiting cost it was compared with"
    )
    lines: list[PurchaseOrderLineOut] | None = None


def policy_out(data: dict[str, Any], version: int) -> PolicyOut:
    return PolicyOut.model_validate({**data, "version": version})
