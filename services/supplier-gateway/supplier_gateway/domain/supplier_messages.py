"""What suppliers tell us, independent of the wire (JSON callback, polling feed or X12 855/856)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class AcknowledgementStatus(StrEnum):
    ACCEPTED = "accepted"
    PARTIAL = "partial"
    REJECTED = "rejected"


class AcknowledgedLineStatus(StrEnum):
    ACCEPTED = "accepted"
    BACKORDERED = "backordered"  # the supplier is out of stock too: it names a new ship date
    REJECTED = "rejected"


@dataclass(frozen=True)
class LineAcknowledgement:
    line_no: int
    status: AcknowledgedLineStatus
    quantity: int
    expected_ship_date: date | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Acknowledgement:
    po_number: str
    status: AcknowledgementStatus
    lines: list[LineAcknowledgement] = field(default_factory=list)
    reason: str | None = None  # the supplier's words about the whole PO (a rejection naming no line)


@dataclass(frozen=True)
class PackedLine:
    line_no: int
    quantity: int


@dataclass(frozen=True)
class Package:
    tracking_number: str
    lines: list[PackedLine]
    tracking_url: str | None = None


@dataclass(frozen=True)
class ShipmentNotice:
    shipment_id: str
    po_number: str
    shipped_at: datetime
    carrier_name: str
    packages: list[Package]
    carrier_scac: str | None = None
    service: str | None = None


SupplierMessage = Acknowledgement | ShipmentNotice
