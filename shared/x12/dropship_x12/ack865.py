"""Inbound 865 purchase order change acknowledgement: the supplier's answer to our 860, line by line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from .model import Segment, TransactionSet, X12ContentError, clean_text, parse_date, parse_int
from .writer import control_number

ChangeAnswer = Literal["accepted", "refused", "unknown"]

# ACK01 (element 668) in answer to a cancellation: the change is done, or it cannot be (the goods left).
_DONE = frozenset({"IA", "IC", "ID", "IQ"})
_REFUSED = frozenset({"IR", "AC", "AR", "R1", "R2", "R3", "R4", "R5", "R6", "R8"})
# BCA02 (element 587): the whole change accepted or rejected; other codes say "see the lines".
_HEADER: dict[str, ChangeAnswer] = {"AT": "accepted", "RJ": "refused", "RD": "refused"}


def change_answer(ack_code: str) -> ChangeAnswer:
    """Our reading of an ACK01 code; a code that neither confirms nor refuses is 'unknown' (never assumed)."""
    if ack_code in _DONE:
        return "accepted"
    if ack_code in _REFUSED:
        return "refused"
    return "unknown"


@dataclass(frozen=True, slots=True)
class LineChangeAnswer:
    line_no: int
    answer: ChangeAnswer
    ack_code: str = ""
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class PurchaseOrderChangeAcknowledgement:
    po_number: str
    ack_type: str
    ack_date: date
    lines: tuple[LineChangeAnswer, ...] = ()

    @property
    def answer(self) -> ChangeAnswer:
        """The header's word (BCA02), for lines the 865 does not list."""
        return _HEADER.get(self.ack_type, "unknown")

    def answer_for(self, line_no: int) -> ChangeAnswer:
        return next((line.answer for line in self.lines if line.line_no == line_no), self.answer)


def parse_865(transaction: TransactionSet) -> PurchaseOrderChangeAcknowledgement:
    """BCA (PO number in BCA03, date in BCA06), then POC + ACK per line (ACK29-31 a reason, as in the 855)."""
    if transaction.code != "865":
        raise X12ContentError(f"expected an 865, got {transaction.code}")
    bca = transaction.find("BCA")
    if bca is None or not bca.element(3):
        raise X12ContentError(f"865 {transaction.control_number}: BCA with a PO number is missing")
    lines: list[LineChangeAnswer] = []
    poc: Segment | None = None
    for segment in transaction.segments:
        if segment.id == "POC":
            poc = segment
        elif segment.id == "ACK" and poc is not None:
            line_no = _line_no(poc)
            reason = (segment.elements[-1] or None) if len(segment) >= 29 else None
            lines.append(LineChangeAnswer(line_no, change_answer(segment.element(1)), segment.element(1), reason))
            poc = None
    header = _HEADER.get(bca.element(2), "unknown")
    for segment in transaction.segments:  # a POC without ACK takes the header's word
        if segment.id == "POC" and not any(line.line_no == _line_no(segment) for line in lines):
            lines.append(LineChangeAnswer(_line_no(segment), header))
    return PurchaseOrderChangeAcknowledgement(
        po_number=bca.element(3),
        ack_type=bca.element(2),
        ack_date=parse_date(bca.element(6) or bca.element(9), "BCA06"),
        lines=tuple(lines),
    )


def build_865(ack: PurchaseOrderChangeAcknowledgement, set_control_number: int | str) -> TransactionSet:
    """BCA*06 (confirmation), POC + ACK per line (IA: cancelled, IR: refused, with the reason in ACK31), CTT."""
    segments = [Segment.of("BCA", "06", ack.ack_type, clean_text(ack.po_number), None, None, _ymd(ack.ack_date))]
    for line in ack.lines:
        segments.append(Segment.of("POC", line.line_no, "DI"))
        elements: list[str | None] = [line.ack_code or ("IA" if line.answer == "accepted" else "IR")]
        if line.reason:
            elements += [None] * 27 + ["ZZ", None, clean_text(line.reason)]
        segments.append(Segment.of("ACK", *elements))
    segments.append(Segment.of("CTT", len(ack.lines)))
    return TransactionSet("865", control_number(set_control_number, 4), segments)


def _line_no(poc: Segment) -> int:
    return parse_int(poc.element(1), f"POC {poc.element(1)!r} POC01")


def _ymd(day: date) -> str:
    return day.strftime("%Y%m%d")
