"""Reading what X12 suppliers send (855, 856, 997, TA1) into domain messages, and answering with a 997/TA1."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Protocol

from dropship_x12.ack855 import AckLine, PurchaseOrderAcknowledgement, parse_855
from dropship_x12.ack865 import LineChangeAnswer, PurchaseOrderChangeAcknowledgement, parse_865
from dropship_x12.asn856 import ShipNotice, parse_856
from dropship_x12.fa997 import FunctionalAckReceived, build_997_document, parse_997, should_acknowledge
from dropship_x12.model import Interchange, TransactionSet, X12ContentError, X12Error, is_digits
from dropship_x12.reader import read_interchanges
from dropship_x12.ta1 import InterchangeAckReceived, parse_ta1, should_send_ta1
from dropship_x12.validation import InterchangeReport, SetKey, acknowledgement_report, reject_sets
from supplier_gateway.adapters.supplier_answers import REASON_LIMIT
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

SUPPORTED_SETS = frozenset({"855", "856", "865", "997"})
# More units than any order line could hold (and than the store's integer columns take).
MAX_UNITS = 1_000_000_000

__all__ = [
    "SUPPORTED_SETS",
    "FunctionalAckReceived",
    "Interchange",
    "InterchangeAckReceived",
    "InterchangeReport",
    "LineChangeAnswer",
    "PurchaseOrderAcknowledgement",
    "PurchaseOrderChangeAcknowledgement",
    "SetKey",
    "ShipNotice",
    "TransactionSet",
    "X12ContentError",
    "X12Error",
    "acknowledgement_of",
    "functional_acks_of",
    "interchange_acks_of",
    "is_control_number",
    "kind_of",
    "needs_reply",
    "parse_855",
    "parse_865",
    "read_and_validate",
    "reject_sets",
    "reply",
    "ship_notices_of",
    "shipment_notice",
    "text_of",
]


def read_and_validate(raw: bytes) -> list[tuple[Interchange, InterchangeReport]]:
    """Every interchange with its envelope/count report (a broken ISA/IEA envelope rejects every group).

    CPU-bound on big inputs: call it off the event loop.
    """
    return [
        (interchange, acknowledgement_report(interchange, SUPPORTED_SETS)) for interchange in read_interchanges(raw)
    ]


def needs_reply(interchange: Interchange, report: InterchangeReport) -> bool:
    """A 997 for any group not made of 997s, a TA1 for a broken envelope or when asked (ISA14 = 1)."""
    return any(should_acknowledge(group) for group in interchange.groups) or should_send_ta1(interchange, report)


def reply(interchange: Interchange, report: InterchangeReport, control_number: int, at: datetime) -> str | None:
    """Our TA1 and/or 997s for one interchange: ISA13 = GS06 = our partner counter."""
    return build_997_document(
        interchange,
        supported_sets=SUPPORTED_SETS,
        interchange_control_number=control_number,
        group_control_number=control_number,
        first_set_control_number=1,
        prepared_at=at,
        report=report,
    )


def is_control_number(value: str) -> bool:
    """1-9 ASCII digits (what GS06 must be, and what fits the store)."""
    return is_digits(value) and len(value) <= 9


def kind_of(interchange: Interchange) -> str:
    """What an interchange carries, for the store: its one set code, 'mixed', 'TA1' or 'none'."""
    codes = {t.code for g in interchange.groups for t in g.transactions}
    if not codes:
        return "TA1" if interchange.acknowledgements else "none"
    code = codes.pop()
    return code if not codes and is_digits(code) and len(code) == 3 else "mixed"


def acknowledgement_of(parsed: PurchaseOrderAcknowledgement, po: PurchaseOrder) -> Acknowledgement:
    """An 855 as our acknowledgement: one status per PO line (several ACKs of a line are combined); a PO1
    without PO101 (optional in 004010) is matched to our line by buyer/vendor part number. The supplier's
    words (an ACK's reason, else the notes of the line, else those of the header) go with each line."""
    by_line: dict[int, list[AckLine]] = {}
    for line in parsed.lines:
        by_line.setdefault(_line_no(line, po), []).append(line)
    header_words = "; ".join(parsed.notes)[:REASON_LIMIT] or None
    return Acknowledgement(
        po_number=parsed.po_number,
        status=AcknowledgementStatus(parsed.status),
        lines=[_combined(line_no, acks, header_words) for line_no, acks in by_line.items()],
        reason=header_words,
    )


def _combined(line_no: int, acks: list[AckLine], header_words: str | None) -> LineAcknowledgement:
    statuses = {ack.status for ack in acks}
    words = next((ack.words for ack in acks if ack.words), None)
    reason = words[:REASON_LIMIT] if words else header_words
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


class _PartOfPurchaseOrder(Protocol):
    """An 855 ACK line or an 856 item: a line number, or part numbers to find the line by."""

    @property
    def line_no(self) -> int | None: ...

    def part(self, qualifier: str) -> str | None: ...


def _line_no(item: _PartOfPurchaseOrder, po: PurchaseOrder) -> int:
    if item.line_no is not None:
        return item.line_no
    buyer_part, vendor_part = item.part("BP"), item.part("VP")
    for line in po.lines:
        if (buyer_part and line.sku == buyer_part) or (vendor_part and line.supplier_sku == vendor_part):
            return line.line_no
    raise UnknownLine(f"PO {po.po_number}: no line for item BP={buyer_part} VP={vendor_part}")


def text_of(transaction: TransactionSet) -> str:
    """A set as a person reads it (ST to SE, one segment a line), whatever delimiters it came with."""
    segments = [
        ("ST", transaction.code, transaction.control_number),
        *((segment.id, *segment.elements) for segment in transaction.segments),
        ("SE", str(transaction.segment_count), transaction.control_number),
    ]
    return "\n".join("*".join(parts) for parts in segments).replace("\x00", "\ufffd")


def functional_acks_of(transaction: TransactionSet) -> FunctionalAckReceived:
    return parse_997(transaction)


def interchange_acks_of(interchange: Interchange) -> list[InterchangeAckReceived]:
    return [parse_ta1(segment) for segment in interchange.acknowledgements]


def _whole(quantities: Iterable[Decimal]) -> int:
    total = sum(quantities, Decimal(0))
    if total != total.to_integral_value():
        raise X12ContentError(f"quantity {total} is not a whole number of units")
    if not 0 <= total <= MAX_UNITS:
        raise X12ContentError(f"quantity {total} is outside 0..{MAX_UNITS} units")
    return int(total)
