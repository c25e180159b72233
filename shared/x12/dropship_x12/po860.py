"""Outbound 860 purchase order change (buyer initiated): we cancel lines, or part of them; read one back (simulator)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .model import Segment, TransactionSet, X12ContentError, clean_text, parse_date, parse_decimal, parse_int
from .po850 import product_ids
from .writer import control_number

# BCH01 (element 353) 04 = change; POC02 (element 670): DI = delete item, QD = quantity decrease.
CHANGE_PURPOSE = "04"
DELETE_ITEM = "DI"
QUANTITY_DECREASE = "QD"


@dataclass(frozen=True, slots=True)
class LineCancellation:
    """Cancel ``cancelled`` units of a line; ``remaining`` is what stays ordered (0: the whole line goes)."""

    line_no: int
    cancelled: int
    remaining: int
    buyer_part_number: str = ""
    vendor_part_number: str = ""
    unit_of_measure: str = "EA"

    @property
    def change_type(self) -> str:
        return DELETE_ITEM if self.remaining == 0 else QUANTITY_DECREASE


@dataclass(frozen=True, slots=True)
class PurchaseOrderChange:
    po_number: str
    po_date: date
    change_date: date
    lines: tuple[LineCancellation, ...]
    # our reference of this change request, echoed by the 865 (BCH05 request reference number)
    request_reference: str = ""


def build_860(change: PurchaseOrderChange, set_control_number: int | str) -> TransactionSet:
    """BCH*04*DS, one POC per line (DI or QD with the quantity left, POC04 the quantity cancelled), CTT."""
    if not change.lines:
        raise X12ContentError(f"PO {change.po_number}: an 860 needs at least one line")
    segments = [
        Segment.of(
            "BCH",
            CHANGE_PURPOSE,
            "DS",
            clean_text(change.po_number),
            None,
            clean_text(change.request_reference) or None,
            change.po_date.strftime("%Y%m%d"),
            None,
            None,
            None,
            change.change_date.strftime("%Y%m%d"),
        )
    ]
    for line in change.lines:
        ids = [("BP", line.buyer_part_number), ("VP", line.vendor_part_number)]
        parts = [clean_text(x) for pair in ids if pair[1] for x in pair]
        quantities = (line.remaining, line.cancelled, line.unit_of_measure)
        segments.append(Segment.of("POC", line.line_no, line.change_type, *quantities, None, *parts))
    segments.append(Segment.of("CTT", len(change.lines)))
    return TransactionSet("860", control_number(set_control_number, 4), segments)


def parse_860(transaction: TransactionSet) -> PurchaseOrderChange:
    if transaction.code != "860":
        raise X12ContentError(f"expected an 860, got {transaction.code}")
    bch = transaction.find("BCH")
    if bch is None or not bch.element(3):
        raise X12ContentError(f"860 {transaction.control_number}: BCH with a PO number is missing")
    lines = []
    for poc in (s for s in transaction.segments if s.id == "POC"):
        where = f"POC {poc.element(1)!r}"
        ids = product_ids(poc, first=7, last=25)
        remaining = parse_decimal(poc.element(3) or "0", f"{where} POC03")
        cancelled = parse_decimal(poc.element(4) or "0", f"{where} POC04")
        lines.append(
            LineCancellation(
                line_no=parse_int(poc.element(1), f"{where} POC01"),
                cancelled=int(cancelled),
                remaining=0 if poc.element(2) == DELETE_ITEM else int(remaining),
                buyer_part_number=ids.get("BP", ""),
                vendor_part_number=ids.get("VP", ""),
                unit_of_measure=poc.element(5) or "EA",
            )
        )
    return PurchaseOrderChange(
        po_number=bch.element(3),
        po_date=parse_date(bch.element(6), "BCH06"),
        change_date=parse_date(bch.element(10) or bch.element(6), "BCH10"),
        lines=tuple(lines),
        request_reference=bch.element(5),
    )
