"""Inbound 865 purchase order change acknowledgement: the supplier's answer to our 860, line by line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from .model import Segment, TransactionSet, X12ContentError, clean_text, notes_of, parse_date, parse_int
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
    notes: tuple[str, ...] = ()  # NTE/MSG/N9 of the line's POC loop


@dataclass(frozen=True, slots=True)
class PurchaseOrderChangeAcknowledgement:
    po_number: str
    ack_type: str
    ack_date: date
    lines: tuple[LineChangeAnswer, ...] = ()
    notes: tuple[str, ...] = ()  # NTE/MSG/N9 before the first POC

    def words_for(self, line_no: int) -> str | None:
        """The supplier's own words about a line: its ACK reason, else the line's notes, else the header's."""
        line = next((line for line in self.lines if line.line_no == line_no), None)
        if line is not None and line.reason:
            return line.reason
        if line is not None and line.notes:
            return "; ".join(line.notes)
        return "; ".join(self.notes) or None

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
    header = _HEADER.get(bca.element(2), "unknown")
    loops = _poc_loops(transaction.segments)
    lines: list[LineChangeAnswer] = []
    for poc, loop in loops[1:]:
        assert poc is not None
        ack = next((segment for segment in loop if segment.id == "ACK"), None)
        notes = notes_of(loop)
        if ack is None:  # a POC without ACK takes the header's word
            lines.append(LineChangeAnswer(_line_no(poc), header, notes=notes))
            continue
        reason = (ack.elements[-1] or None) if len(ack) >= 29 else None
        lines.append(LineChangeAnswer(_line_no(poc), change_answer(ack.element(1)), ack.element(1), reason, notes))
    return PurchaseOrderChangeAcknowledgement(
        po_number=bca.element(3),
        ack_type=bca.element(2),
        ack_date=parse_date(bca.element(6) or bca.element(9), "BCA06"),
        lines=tuple(lines),
        notes=notes_of(loops[0][1]),
    )


def _poc_loops(segments: list[Segment]) -> list[tuple[Segment | None, list[Segment]]]:
    """The header (no POC) then each POC with the segments up to the next POC or the CTT."""
    loops: list[tuple[Segment | None, list[Segment]]] = [(None, [])]
    for segment in segments:
        if segment.id == "CTT":
            break
        if segment.id == "POC":
            loops.append((segment, []))
        else:
            loops[-1][1].append(segment)
    return loops


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
