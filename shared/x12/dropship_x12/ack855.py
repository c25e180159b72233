"""Inbound 855 purchase order acknowledgement: parse into PurchaseOrderAcknowledgement, and build one (simulator)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import groupby
from typing import Literal

from .model import (
    Segment,
    TransactionSet,
    X12ContentError,
    clean_text,
    notes_of,
    parse_date,
    parse_decimal,
    parse_int,
)
from .po850 import product_ids
from .writer import control_number

LineStatus = Literal["accepted", "backordered", "rejected"]
HeaderStatus = Literal["accepted", "partial", "rejected"]

# ACK01 (element 668) codes. Holds count as backordered: the goods are not coming now, but the line lives.
_ACCEPTED = frozenset({"IA", "AC", "AR", "DR", "IC", "IE", "IP", "IQ", "IS", "SP"})
_BACKORDERED = frozenset({"IB", "BP", "IH", "IF", "IW"})
_REJECTED = frozenset({"IR", "ID", "R1", "R2", "R3", "R4", "R5", "R6", "R8"})
# BAK02 (element 587) codes that reject the whole order.
_REJECT_TYPES = frozenset({"RD", "RF", "RJ", "RO"})
_CHANGE_TYPES = frozenset({"AC", "AE"})


def line_status(ack_code: str) -> LineStatus:
    """Our line status for an ACK01 code; an unknown code is 'backordered' (waits, never cancels by mistake)."""
    if ack_code in _ACCEPTED:
        return "accepted"
    if ack_code in _REJECTED:
        return "rejected"
    return "backordered"


@dataclass(frozen=True, slots=True)
class AckLine:
    """One ACK: a PO1 with several ACKs (e.g. 5 IA + 3 IB) gives several AckLines with the same line_no.

    PO101 is optional in 004010: without it (``line_no`` None) the line is known by the PO1 product ids,
    (qualifier, id) pairs such as (("BP", "SKU-1"), ("VP", "X9")).
    """

    line_no: int | None
    ack_code: str
    quantity: Decimal
    ordered_quantity: Decimal | None = None
    expected_ship_date: date | None = None
    reason: str | None = None
    unit_of_measure: str = "EA"
    product_ids: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()  # NTE/MSG/N9 of the line's PO1 loop

    @property
    def words(self) -> str | None:
        """Why, in the supplier's words: the ACK's reason, else the line's notes."""
        return self.reason or "; ".join(self.notes) or None

    @property
    def status(self) -> LineStatus:
        return line_status(self.ack_code)

    def part(self, qualifier: str) -> str | None:
        return next((value for q, value in self.product_ids if q == qualifier), None)


@dataclass(frozen=True, slots=True)
class PurchaseOrderAcknowledgement:
    po_number: str
    ack_type: str
    ack_date: date
    lines: tuple[AckLine, ...] = ()
    notes: tuple[str, ...] = ()  # NTE/MSG/N9 before the first PO1

    @property
    def status(self) -> HeaderStatus:
        """Rejected if BAK02 rejects; otherwise derived from the lines (an 'AD' with IR lines is partial)."""
        if self.ack_type in _REJECT_TYPES:
            return "rejected"
        if not self.lines:
            return "partial" if self.ack_type in _CHANGE_TYPES else "accepted"
        statuses = {line.status for line in self.lines}
        if statuses == {"rejected"}:
            return "rejected"
        short = any(
            line.ordered_quantity is not None and line.quantity < line.ordered_quantity
            for line in self.lines
            if line.status == "accepted"
        )
        return "accepted" if statuses == {"accepted"} and not short else "partial"


def parse_855(transaction: TransactionSet) -> PurchaseOrderAcknowledgement:
    if transaction.code != "855":
        raise X12ContentError(f"expected an 855, got {transaction.code}")
    bak = transaction.find("BAK")
    if bak is None or not bak.element(3):
        raise X12ContentError(f"855 {transaction.control_number}: BAK with a PO number is missing")
    ack_type = bak.element(2)
    lines: list[AckLine] = []
    for loop in _po1_loops(transaction.segments):
        lines.extend(_lines(loop, default_code="IR" if ack_type in _REJECT_TYPES else "IA"))
    first_line = next((n for n, s in enumerate(transaction.segments) if s.id in ("PO1", "CTT")), None)
    return PurchaseOrderAcknowledgement(
        po_number=bak.element(3),
        ack_type=ack_type,
        ack_date=parse_date(bak.element(4), "BAK04"),
        lines=tuple(lines),
        notes=notes_of(transaction.segments[:first_line]),
    )


def build_855(ack: PurchaseOrderAcknowledgement, set_control_number: int | str) -> TransactionSet:
    """BAK, then one PO1 per line_no with its ACK(s) (ACK04=068 current schedule ship), CTT."""
    segments = [Segment.of("BAK", "00", ack.ack_type, clean_text(ack.po_number), ack.ack_date.strftime("%Y%m%d"))]
    po1_count = 0
    ordered_total = Decimal(0)
    for (line_no, ids), group in groupby(ack.lines, key=lambda line: (line.line_no, line.product_ids)):
        acks = list(group)
        ordered = acks[0].ordered_quantity
        po1_count += 1
        ordered_total += ordered or 0
        uom = acks[0].unit_of_measure if ordered is not None else None
        part_ids = [clean_text(x) for pair in ids for x in pair]
        segments.append(Segment.of("PO1", line_no, ordered, uom, *([None, None, *part_ids] if part_ids else [])))
        segments.extend(_ack_segment(a) for a in acks)
    segments.append(Segment.of("CTT", po1_count, ordered_total if po1_count else None))
    return TransactionSet("855", control_number(set_control_number, 4), segments)


def _ack_segment(line: AckLine) -> Segment:
    elements: list[str | Decimal | None] = [line.ack_code, line.quantity, line.unit_of_measure]
    if line.expected_ship_date is not None:
        elements += ["068", line.expected_ship_date.strftime("%Y%m%d")]
    if line.reason:
        # ACK29 agency 'ZZ' (mutually defined) + ACK31 industry code carry the reason.
        elements += [None] * (28 - len(elements)) + ["ZZ", None, clean_text(line.reason)]
    return Segment.of("ACK", *elements)


def _po1_loops(segments: list[Segment]) -> Iterator[list[Segment]]:
    loop: list[Segment] | None = None
    for segment in segments:
        if segment.id == "PO1":
            if loop:
                yield loop
            loop = [segment]
        elif segment.id == "CTT":
            break
        elif loop is not None:
            loop.append(segment)
    if loop:
        yield loop


def _lines(loop: list[Segment], default_code: str) -> Iterator[AckLine]:
    po1 = loop[0]
    where = f"PO1 {po1.element(1)!r}"
    line_no = parse_int(po1.element(1), f"{where} PO101") if po1.element(1).strip() else None
    ids = tuple(product_ids(po1, first=6, last=25).items())
    ordered = parse_decimal(po1.element(2), f"{where} PO102") if po1.element(2) else None
    uom = po1.element(3) or "EA"
    schedule = next((s for s in loop if s.id == "SCH" and s.element(6)), None)
    scheduled = parse_date(schedule.element(6), f"{where} SCH06") if schedule else None
    acks = [s for s in loop if s.id == "ACK"]
    notes = notes_of(loop)
    if not acks:
        yield AckLine(line_no, default_code, ordered or Decimal(0), ordered, scheduled, None, uom, ids, notes)
        return
    for ack in acks:
        quantity = ack.element(2)
        yield AckLine(
            line_no=line_no,
            ack_code=ack.element(1),
            quantity=parse_decimal(quantity, f"{where} ACK02") if quantity else Decimal(0),
            ordered_quantity=ordered,
            expected_ship_date=parse_date(ack.element(5), f"{where} ACK05") if ack.element(5) else scheduled,
            # ACK29-31 (agency, subqualifier, industry code) is the reason; some senders put it at 27-29.
            reason=(ack.elements[-1] or None) if len(ack) >= 29 else None,
            unit_of_measure=ack.element(3) or uom,
            product_ids=ids,
            notes=notes,
        )
