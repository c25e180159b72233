"""997 functional acknowledgement: build one from a validation report, and read the ones partners send us."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime

from .model import (
    DEFAULT_DELIMITERS,
    Delimiters,
    FunctionalGroup,
    Interchange,
    Segment,
    TransactionSet,
    X12ContentError,
    is_digits,
    printable,
)
from .ta1 import build_ta1, should_send_ta1
from .validation import GroupReport, InterchangeReport, SetError, SetReport, validate_interchange
from .writer import Partners, control_number, delimiters_avoiding, envelope, serialize_interchange

ACK_FUNCTIONAL_ID = "FA"
_AK3_SEGMENT_ID = re.compile(r"[A-Z0-9]{2,3}")
# AK502-AK506 / AK905-AK909: at most five codes fit.
_MAX_CODES = 5


def should_acknowledge(group: FunctionalGroup) -> bool:
    """False for a group of 997s (GS01 'FA'): acknowledging an acknowledgement would loop forever."""
    return group.functional_id != ACK_FUNCTIONAL_ID


def build_997(
    group: FunctionalGroup,
    report: GroupReport,
    set_control_number: int | str,
    *,
    include_accepted_sets: bool = True,
) -> TransactionSet | None:
    """AK1, AK2/AK3/AK5 per set, AK9 for ``group``; None when the group is itself made of 997s."""
    if not should_acknowledge(group):
        return None
    segments = [Segment.of("AK1", printable(group.functional_id), printable(group.control_number))]
    for set_report in report.sets:
        if set_report.accepted and not include_accepted_sets:
            continue
        segments.extend(_set_response(set_report))
    included = report.declared_set_count if report.declared_set_count is not None else report.received
    segments.append(
        Segment.of(
            "AK9", report.ak901, included, report.received, report.accepted_count, *report.ak9_codes[:_MAX_CODES]
        )
    )
    return TransactionSet("997", control_number(set_control_number, 4), segments)


def build_997_document(
    interchange: Interchange,
    *,
    supported_sets: Collection[str] | None,
    interchange_control_number: int | str,
    group_control_number: int | str,
    first_set_control_number: int,
    prepared_at: datetime,
    report: InterchangeReport | None = None,
    delimiters: Delimiters = DEFAULT_DELIMITERS,
    partners: Partners | None = None,
) -> str | None:
    """Our answer to ``interchange``: a TA1 when its envelope is broken or a TA1 was asked for (ISA14 = 1), and
    one FA group answering every non-FA group (ST02 counts up from the first number).

    Values echoed from the partner are stripped of control characters and, if one of ``delimiters`` occurs in
    them, other delimiters are chosen, so an answer can always be written.  ``partners`` defaults to the
    interchange's own ids, reversed.  Returns None when there is nothing to answer (only 997s, no TA1 due).
    """
    report = report or validate_interchange(interchange, supported_sets)
    acks: list[TransactionSet] = []
    for group, group_report in zip(interchange.groups, report.groups, strict=True):
        ack = build_997(group, group_report, first_set_control_number + len(acks))
        if ack is not None:
            acks.append(ack)
    ta1 = [build_ta1(interchange, report)] if should_send_ta1(interchange, report) else []
    if not acks and not ta1:
        return None
    answered = next((g for g in interchange.groups if should_acknowledge(g)), None)
    answer = envelope(
        acks,
        partners=partners or Partners.reply_to(interchange, answered),
        functional_id=ACK_FUNCTIONAL_ID,
        interchange_control_number=interchange_control_number,
        group_control_number=group_control_number,
        prepared_at=prepared_at,
    )
    answer.acknowledgements = ta1
    if not acks:
        answer.groups = []
    return serialize_interchange(answer, delimiters_avoiding(answer, delimiters))


def _set_response(report: SetReport) -> Iterator[Segment]:
    yield Segment.of("AK2", printable(report.code), printable(report.control_number))
    for issue in report.errors:
        if issue.code == SetError.SEGMENTS_IN_ERROR and issue.segment_position is not None:
            segment_id = issue.segment_id or ""
            # AK301 must itself be a valid id; for garbage ids AK5 code 5 alone has to do.
            if _AK3_SEGMENT_ID.fullmatch(segment_id):
                yield Segment.of("AK3", segment_id, issue.segment_position, None, "1")
    yield Segment.of("AK5", report.ak501, *report.ak5_codes[:_MAX_CODES])


@dataclass(frozen=True, slots=True)
class SetAckReceived:
    code: str
    control_number: str
    status: str
    error_codes: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        # 'E' = accepted, errors noted: the set is still processed by the partner.
        return self.status in ("A", "E")


@dataclass(frozen=True, slots=True)
class FunctionalAckReceived:
    functional_id: str
    group_control_number: str
    status: str
    included: int
    received: int
    accepted_count: int
    error_codes: tuple[str, ...] = ()
    sets: tuple[SetAckReceived, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.status in ("A", "E")

    @property
    def partially_accepted(self) -> bool:
        return self.status == "P"

    def set_status(self, set_control_number: str) -> SetAckReceived | None:
        return next((s for s in self.sets if s.control_number == set_control_number), None)


def parse_997(transaction: TransactionSet) -> FunctionalAckReceived:
    """Read a 997; sets not listed in AK2 loops take the group status (partners often omit accepted ones)."""
    if transaction.code != "997":
        raise X12ContentError(f"expected a 997, got {transaction.code}")
    ak1 = transaction.find("AK1")
    ak9 = transaction.find("AK9")
    if ak1 is None or ak9 is None:
        raise X12ContentError(f"997 {transaction.control_number}: AK1 or AK9 missing")
    sets: list[SetAckReceived] = []
    pending: Segment | None = None
    for segment in transaction.segments:
        if segment.id == "AK2":
            pending = segment
        elif segment.id == "AK5" and pending is not None:
            codes = tuple(c for c in segment.elements[1:] if c)
            sets.append(SetAckReceived(pending.element(1), pending.element(2), segment.element(1), codes))
            pending = None
    return FunctionalAckReceived(
        functional_id=ak1.element(1),
        group_control_number=ak1.element(2),
        status=ak9.element(1),
        included=_count(ak9, 2),
        received=_count(ak9, 3),
        accepted_count=_count(ak9, 4),
        error_codes=tuple(c for c in ak9.elements[4:] if c),
        sets=tuple(sets),
    )


def _count(segment: Segment, position: int) -> int:
    value = segment.element(position)
    if not is_digits(value.strip()):
        raise X12ContentError(f"{segment.id}{position:02d} {value!r} is not a count")
    return int(value)
