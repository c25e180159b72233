"""TA1 interchange acknowledgement: build one for an interchange's envelope, and read the ones partners send."""

from __future__ import annotations

from dataclasses import dataclass

from .model import Interchange, Segment, X12ContentError, is_digits, printable
from .validation import InterchangeReport

NO_ERROR = "000"


@dataclass(frozen=True, slots=True)
class InterchangeAckReceived:
    """A partner's TA1: which of our interchanges (ISA13), and whether its envelope was accepted."""

    control_number: str
    status: str  # TA104: A accepted, E accepted with errors, R rejected
    note_code: str  # TA105 (element I18), "000" when there is no error

    @property
    def accepted(self) -> bool:
        return self.status in ("A", "E")


def should_send_ta1(interchange: Interchange, report: InterchangeReport) -> bool:
    """A TA1 goes back when the envelope is broken, or when the sender asked for one (ISA14 = 1)."""
    return not report.envelope_ok or interchange.ack_requested == "1"


def build_ta1(interchange: Interchange, report: InterchangeReport) -> Segment:
    """TA1 echoing ISA13/ISA09/ISA10: 'A' with note 000, or 'R' with the first envelope error's code."""
    accepted = report.envelope_ok
    return Segment.of(
        "TA1",
        printable(interchange.control_number),
        printable(interchange.date),
        printable(interchange.time),
        "A" if accepted else "R",
        NO_ERROR if accepted else report.ta1_codes[0],
    )


def parse_ta1(segment: Segment) -> InterchangeAckReceived:
    if segment.id != "TA1":
        raise X12ContentError(f"expected a TA1, got {segment.id}")
    control_number, status, note_code = segment.element(1).strip(), segment.element(4), segment.element(5)
    if not is_digits(control_number) or status not in ("A", "E", "R"):
        raise X12ContentError(f"TA1 {control_number!r}: TA101 must be a control number and TA104 A, E or R")
    return InterchangeAckReceived(control_number.zfill(9), status, note_code)
