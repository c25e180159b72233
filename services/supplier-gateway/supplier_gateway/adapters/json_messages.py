"""The generic HTTP/JSON supplier API's acknowledgement and shipment bodies, read into domain messages."""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from supplier_gateway.domain.supplier_messages import (
    AcknowledgedLineStatus,
    Acknowledgement,
    AcknowledgementStatus,
    LineAcknowledgement,
    Package,
    PackedLine,
    ShipmentNotice,
    SupplierMessage,
)

MessageKind = Literal["acknowledgement", "shipment"]


class _SupplierBody(BaseModel):
    # suppliers are outside parties: fields we do not use are tolerated, the ones we use are checked
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class AckLineBody(_SupplierBody):
    line_no: int = Field(ge=1)
    status: AcknowledgedLineStatus
    qty: int = Field(ge=0)
    expected_ship_date: date | None = None
    reason: str | None = Field(default=None, max_length=500)


class AcknowledgementBody(_SupplierBody):
    po_number: str = Field(min_length=1, max_length=64)
    status: AcknowledgementStatus
    lines: list[AckLineBody] = Field(default_factory=list, max_length=10_000)
    reason: str | None = Field(default=None, max_length=500)  # why, when the whole PO is rejected

    def to_domain(self) -> Acknowledgement:
        return Acknowledgement(
            po_number=self.po_number,
            status=self.status,
            lines=[
                LineAcknowledgement(line.line_no, line.status, line.qty, line.expected_ship_date, line.reason)
                for line in self.lines
            ],
            reason=self.reason,
        )


class CarrierBody(_SupplierBody):
    scac: str | None = Field(default=None, max_length=10)
    name: str = Field(min_length=1, max_length=100)


class PackedLineBody(_SupplierBody):
    line_no: int = Field(ge=1)
    qty: int = Field(gt=0)


class PackageBody(_SupplierBody):
    tracking_number: str = Field(min_length=1, max_length=100)
    tracking_url: str | None = Field(default=None, max_length=500)
    lines: list[PackedLineBody] = Field(min_length=1)


class ShipmentBody(_SupplierBody):
    shipment_id: str = Field(min_length=1, max_length=100)
    po_number: str = Field(min_length=1, max_length=64)
    shipped_at: AwareDatetime
    carrier: CarrierBody
    service: str | None = Field(default=None, max_length=100)
    packages: list[PackageBody] = Field(min_length=1)

    def to_domain(self) -> ShipmentNotice:
        return ShipmentNotice(
            shipment_id=self.shipment_id,
            po_number=self.po_number,
            shipped_at=self.shipped_at,
            carrier_name=self.carrier.name,
            carrier_scac=self.carrier.scac,
            service=self.service,
            packages=[
                Package(
                    tracking_number=package.tracking_number,
                    tracking_url=package.tracking_url,
                    lines=[PackedLine(line.line_no, line.qty) for line in package.lines],
                )
                for package in self.packages
            ],
        )


class UnreadableMessage(ValueError):
    """The body is not JSON, or not an acknowledgement / shipment notice; `errors` names the fields."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


def kind_of_body(declared: str | None, raw: dict[str, object]) -> MessageKind:
    """The message kind: from the sender's X-Event-Type (or URL), else from the body's shape."""
    if declared in ("acknowledgement", "shipment"):
        return declared  # type: ignore[return-value]
    if declared:
        raise UnreadableMessage(f"unknown event type {declared!r}: expected acknowledgement or shipment")
    return "shipment" if "shipment_id" in raw else "acknowledgement"


def read_message(body: bytes, declared_kind: str | None) -> SupplierMessage:
    try:
        raw = json.loads(body)
    except ValueError as exc:
        raise UnreadableMessage(f"body is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise UnreadableMessage("body must be a JSON object")
    return read_object(raw, declared_kind)


def read_object(raw: dict[str, object], declared_kind: str | None) -> SupplierMessage:
    kind = kind_of_body(declared_kind, raw)
    model: type[AcknowledgementBody] | type[ShipmentBody] = ShipmentBody if kind == "shipment" else AcknowledgementBody
    try:
        return model.model_validate(raw).to_domain()
    except ValidationError as exc:
        errors = [
            {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
            for error in exc.errors(include_url=False)
        ]
        raise UnreadableMessage(f"invalid {kind} body", errors) from exc
