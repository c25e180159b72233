"""Reading what X12 suppliers send (855, 856, 997) into domain messages, and answering with a 997."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time
from decimal import Decimal

from supplier_gateway.adapters.x12.ack855 import AckLine, parse_855
from supplier_gateway.adapters.x12.asn856 import ShipNotice, ShippedItem, parse_856
from supplier_gateway.adapters.x12.fa997 import FunctionalAckReceived, build_997_document, parse_997
from supplier_gateway.adapters.x12.model import Interchange, TransactionSet, X12ContentError, X12Error
from supplier_gateway.adapters.x12.reader import read_interchanges
from supplier_gateway.adapters.x12.validation import (
    GroupError,
    InterchangeError,
    InterchangeReport,
    Issue,
    SetError,
    validate_interchange,
)
from supplier_gateway.domain.purchase_order import PurchaseOrder, UnknownLine
from supplier_gateway.domain.supplier_messages import (
    AcknowledgedLineStatus,
    Acknowledgement,
    AcknowledgementStatus,
    LineAcknowledgement,
    Package,
    PackedLine,
    ShipmentNotice,
)

SUPPORTED_SETS = frozenset({"855", "856", "997"})
SetKey = tuple[int, int]  # (group index, set index) within an interchange

__all__ = [
    "SUPPORTED_SETS",
    "Interchange",
    "InterchangeReport",
    "TransactionSet",
    "X12ContentError",
    "X12Error",
    "acknowledgement_of",
    "functional_acks_of",
    "read_interchanges",
    "reject_sets",
    "reply_997",
    "ship_notices_of",
    "shipment_notice",
    "validate",
]


def validate(interchange: Interchange) -> InterchangeReport:
    """Envelope and count checks; a broken ISA/IEA envelope rejects every group (nothing is applied)."""
    report = validate_interchange(interchange, SUPPORTED_SETS)
    if report.envelope_ok:
        return report
    truncated = any(issue.code == InterchangeError.PREMATURE_END_OF_FILE.value for issue in report.errors)
    code = GroupError.TRAILER_MISSING if truncated else GroupError.CONTROL_NUMBER_MISMATCH
    reason = "; ".join(issue.message for issue in report.errors)
    groups = tuple(
        dataclasses.replace(group, errors=(*group.errors, Issue(code, f"interchange envelope: {reason}")))
        for group in report.groups
    )
    return dataclasses.replace(report, groups=groups)


def reject_sets(report: InterchangeReport, refused: Mapping[SetKey, str]) -> InterchangeReport:
    """The report with sets we could not apply (unknown PO, unknown line, ...) marked rejected."""
    groups = []
    for group_index, group in enumerate(report.groups):
        sets = tuple(
            dataclasses.replace(
                set_report,
                errors=(*set_report.errors, Issue(SetError.SEGMENTS_IN_ERROR, refused[(group_index, set_index)])),
            )
            if (group_index, set_index) in refused
            else set_report
            for set_index, set_report in enumerate(group.sets)
        )
        groups.append(dataclasses.replace(group, sets=sets))
    return dataclasses.replace(report, groups=tuple(groups))


def reply_997(interchange: Interchange, report: InterchangeReport, control_number: int, at: datetime) -> str | None:
    """One 997 per functional group (none for groups of 997s): ISA13 = GS06 = our partner counter."""
    return build_997_document(
        interchange,
        supported_sets=SUPPORTED_SETS,
        interchange_control_number=control_number,
        group_control_number=control_number,
        first_set_control_number=1,
        prepared_at=at,
        report=report,
    )


def acknowledgement_of(transaction: TransactionSet) -> Acknowledgement:
    """An 855 as our acknowledgement: one status per PO line (several ACKs of a line are combined)."""
    parsed = parse_855(transaction)
    by_line: dict[int, list[AckLine]] = {}
    for line in parsed.lines:
        by_line.setdefault(line.line_no, []).append(line)
    return Acknowledgement(
        po_number=parsed.po_number,
        status=AcknowledgementStatus(parsed.status),
        lines=[_combined(line_no, acks) for line_no, acks in by_line.items()],
    )


def _combined(line_no: int, acks: list[AckLine]) -> LineAcknowledgement:
    statuses = {ack.status for ack in acks}
    reason = next((ack.reason for ack in acks if ack.reason), None)
    if statuses == {"rejected"}:
        return LineAcknowledgement(
            line_no, AcknowledgedLineStatus.REJECTED, _whole(a.quantity for a in acks), None, reason
        )
    live = [ack for ack in acks if ack.status != "rejected"]
    if "backordered" in statuses:
        dates = [ack.expected_ship_date for ack in live if ack.expected_ship_date is not None]
        return LineAcknowledgement(
            line_no,
            AcknowledgedLineStatus.BACKORDERED,
            _whole(a.quantity for a in live),
            max(dates, default=None),
            reason,
        )
    dates = [ack.expected_ship_date for ack in live if ack.expected_ship_date is not None]
    return LineAcknowledgement(
        line_no, AcknowledgedLineStatus.ACCEPTED, _whole(a.quantity for a in live), max(dates, default=None), reason
    )


def ship_notices_of(transaction: TransactionSet) -> list[ShipNotice]:
    return parse_856(transaction)


def shipment_notice(notice: ShipNotice, po: PurchaseOrder) -> ShipmentNotice:
    """An 856 order level as our shipment notice; items without LIN01 are matched by buyer/vendor part."""
    packages = []
    for number, package in enumerate(notice.packages, start=1):
        tracking = package.tracking_number or (package.carton_ids[0] if package.carton_ids else None)
        tracking = tracking or notice.tracking_number or f"{notice.shipment_id}-{number}"
        packages.append(
            Package(
                tracking_number=tracking,
                lines=[PackedLine(_line_no(item, po), _whole([item.quantity])) for item in package.items],
            )
        )
    return ShipmentNotice(
        shipment_id=notice.shipment_id,
        po_number=notice.po_number,
        shipped_at=datetime.combine(notice.shipped_date, time(0), tzinfo=UTC),
        carrier_name=notice.carrier.name or notice.carrier.scac or "unknown carrier",
        carrier_scac=notice.carrier.scac,
        service=notice.carrier.service_level,
        packages=packages,
    )


def _line_no(item: ShippedItem, po: PurchaseOrder) -> int:
    if item.line_no is not None:
        return item.line_no
    buyer_part, vendor_part = item.part("BP"), item.part("VP")
    for line in po.lines:
        if (buyer_part and line.sku == buyer_part) or (vendor_part and line.supplier_sku == vendor_part):
            return line.line_no
    raise UnknownLine(f"PO {po.po_number}: no line for item BP={buyer_part} VP={vendor_part}")


def functional_acks_of(transaction: TransactionSet) -> FunctionalAckReceived:
    return parse_997(transaction)


def _whole(quantities: Iterable[Decimal]) -> int:
    total = sum(quantities, Decimal(0))
    if total != total.to_integral_value():
        raise X12ContentError(f"quantity {total} is not a whole number of units")
    return int(total)
