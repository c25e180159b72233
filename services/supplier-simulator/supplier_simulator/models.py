"""Wire models of the generic HTTP/JSON supplier API as the simulator sees them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ShipTo(_Strict):
    """Drop-ship destination of one line."""

    name: str = Field(min_length=1)
    address_lines: list[str] = Field(min_length=1)
    city: str = Field(min_length=1)
    region: str
    postal_code: str = Field(min_length=1)
    country: str = Field(min_length=2, max_length=3)
    phone: str | None = None


class PurchaseOrderLine(_Strict):
    """One line of an outbound purchase order."""

    line_no: int = Field(ge=1)
    sku: str = Field(min_length=1)
    qty: int = Field(ge=1)
    unit_cost: Decimal = Field(ge=0)
    ship_to: ShipTo
    customer_ref: str = Field(min_length=1)


class PurchaseOrderIn(_Strict):
    """Body of ``POST /purchase-orders``."""

    po_number: str = Field(min_length=1, max_length=64)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    lines: list[PurchaseOrderLine] = Field(min_length=1)

    @field_validator("lines")
    @classmethod
    def _unique_line_numbers(cls, lines: list[PurchaseOrderLine]) -> list[PurchaseOrderLine]:
        numbers = [line.line_no for line in lines]
        if len(numbers) != len(set(numbers)):
            raise ValueError("line_no values must be unique")
        return lines


class LineQty(_Strict):
    """A quantity of one PO line (cancel requests, shipped package contents)."""

    line_no: int = Field(ge=1)
    qty: int = Field(ge=1)


class CancelIn(_Strict):
    """Body of ``POST /purchase-orders/{po}/cancel``; no lines means cancel everything open."""

    lines: list[LineQty] | None = None


AckLineStatus = Literal["accepted", "backordered", "rejected"]
AckStatus = Literal["accepted", "partial", "rejected"]


class AckLine(_Strict):
    """Acknowledgement of one PO line."""

    line_no: int = Field(ge=1)
    status: AckLineStatus
    qty: int = Field(ge=0)
    expected_ship_date: date | None = None
    reason: str | None = None


class AckIn(_Strict):
    """Body of ``POST /admin/purchase-orders/{po}/acknowledge``; omitted parts are derived."""

    status: AckStatus | None = None
    lines: list[AckLine] | None = None


class Carrier(_Strict):
    """Carrier of a shipment."""

    scac: str | None = None
    name: str = Field(min_length=1)


class ShipIn(_Strict):
    """Body of ``POST /admin/purchase-orders/{po}/ship``; no lines means ship everything open."""

    lines: list[LineQty] | None = None
    packages: int = Field(default=1, ge=1, description="split the lines over this many packages")
    carrier: Carrier = Carrier(scac="UPSN", name="UPS")
    service: str | None = "Ground"
    shipment_id: str | None = None


class FaultsIn(_Strict):
    """Body of ``POST /admin/faults``: only the given fields change the current faults."""

    fail_next: int | None = Field(default=None, ge=0)
    status: int | None = Field(default=None, ge=400, le=599)
    rate_limit_next: int | None = Field(default=None, ge=0)
    retry_after: float | None = Field(default=None, ge=0)
    retry_after_http_date: bool | None = None
    delay_seconds: float | None = Field(default=None, ge=0)
    delay_next: int | None = Field(default=None, ge=0, description="None: delay every request")
    reject_next: int | None = Field(default=None, ge=0)
    reject_reason: str | None = None
    crash_after_accept_next: int | None = Field(default=None, ge=0)
    replay_with_409: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> FaultsIn:
        if not self.model_fields_set:
            raise ValueError("give at least one fault field")
        return self


class Faults(BaseModel):
    """Faults currently armed on ``POST /purchase-orders``."""

    fail_next: int = 0
    status: int = 503
    rate_limit_next: int = 0
    retry_after: float = 1.0
    retry_after_http_date: bool = False
    delay_seconds: float = 0.0
    delay_next: int | None = None
    reject_next: int = 0
    reject_reason: str = "sku_not_orderable"
    crash_after_accept_next: int = 0
    replay_with_409: bool = False
