"""Envelope checks (counts, control numbers, trailers) reported with the codes a 997 (AK5/AK9) and TA1 carry.

Decision on control numbers: IEA02/ISA13 and GE02/GS06 are numeric (N0) elements, so
they are compared as numbers: an unpadded ``IEA*1*3438`` matches ``ISA13=000003438``
and is accepted.  SE02/ST02 is alphanumeric (AN) and must match exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Literal, TypeVar

from .model import FunctionalGroup, Interchange, TransactionSet, has_control_characters, is_digits, printable

_T = TypeVar("_T")
#: A transaction set's place in an interchange: (group index, set index).
SetKey = tuple[int, int]


class SetError(IntEnum):
    """AK502 (004010 element 718): why a transaction set is rejected."""

    NOT_SUPPORTED = 1
    TRAILER_MISSING = 2
    CONTROL_NUMBER_MISMATCH = 3
    SEGMENT_COUNT_MISMATCH = 4
    SEGMENTS_IN_ERROR = 5
    INVALID_SET_ID = 6
    INVALID_CONTROL_NUMBER = 7
    CONTROL_NUMBER_NOT_UNIQUE = 23


class GroupError(IntEnum):
    """AK905 (004010 element 716): why a functional group is rejected or noted."""

    NOT_SUPPORTED = 1
    VERSION_NOT_SUPPORTED = 2
    TRAILER_MISSING = 3
    CONTROL_NUMBER_MISMATCH = 4
    SET_COUNT_MISMATCH = 5
    CONTROL_NUMBER_SYNTAX = 6
    CONTROL_NUMBER_NOT_UNIQUE = 19


class InterchangeError(StrEnum):
    """TA105 note codes (element I18) for problems in the ISA/IEA envelope."""

    CONTROL_NUMBER_MISMATCH = "001"
    INVALID_CONTROL_NUMBER = "018"
    GROUP_COUNT_MISMATCH = "021"
    INVALID_CONTROL_STRUCTURE = "022"
    PREMATURE_END_OF_FILE = "023"
    INVALID_CONTENT = "024"


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem: the standard code plus a sentence a human can act on."""

    code: int | str
    message: str
    segment_id: str | None = None
    # 1-based position of the segment in the set (ST = 1), for AK3.
    segment_position: int | None = None


@dataclass(frozen=True, slots=True)
class SetReport:
    code: str
    control_number: str
    errors: tuple[Issue, ...] = ()

    @property
    def accepted(self) -> bool:
        return not self.errors

    @property
    def ak501(self) -> Literal["A", "R"]:
        return "A" if self.accepted else "R"

    @property
    def ak5_codes(self) -> tuple[int, ...]:
        return _unique(int(e.code) for e in self.errors)


@dataclass(frozen=True, slots=True)
class GroupReport:
    functional_id: str
    control_number: str
    sets: tuple[SetReport, ...]
    errors: tuple[Issue, ...] = ()
    # GE01 as sent (None when GE is missing or GE01 is not a number).
    declared_set_count: int | None = None

    @property
    def received(self) -> int:
        return len(self.sets)

    @property
    def accepted_count(self) -> int:
        return sum(1 for s in self.sets if s.accepted)

    @property
    def ak901(self) -> Literal["A", "P", "R"]:
        if self.errors or self.accepted_count == 0:
            return "R"
        return "A" if self.accepted_count == self.received else "P"

    @property
    def accepted(self) -> bool:
        return self.ak901 == "A"

    @property
    def ak9_codes(self) -> tuple[int, ...]:
        return _unique(int(e.code) for e in self.errors)


@dataclass(frozen=True, slots=True)
class InterchangeReport:
    sender_qualifier: str
    sender_id: str
    control_number: str
    groups: tuple[GroupReport, ...]
    errors: tuple[Issue, ...] = ()

    @property
    def envelope_ok(self) -> bool:
        """True when the ISA/IEA envelope itself is sound (what a TA1 would say: TA104 'A')."""
        return not self.errors

    @property
    def accepted(self) -> bool:
        """Envelope sound and every group fully accepted."""
        return self.envelope_ok and all(g.accepted for g in self.groups)

    @property
    def ta1_codes(self) -> tuple[str, ...]:
        return _unique(str(e.code) for e in self.errors)

    def all_issues(self) -> list[Issue]:
        issues = list(self.errors)
        for group in self.groups:
            issues.extend(group.errors)
            for transaction in group.sets:
                issues.extend(transaction.errors)
        return issues


def validate_interchange(interchange: Interchange, supported_sets: Collection[str] | None = None) -> InterchangeReport:
    """Check an interchange; ``supported_sets`` (ST01 codes, None = all) marks the others AK5 code 1."""
    errors: list[Issue] = []
    label = f"interchange {interchange.control_number!r}"
    if not is_digits(interchange.control_number):
        errors.append(Issue(InterchangeError.INVALID_CONTROL_NUMBER.value, f"{label}: ISA13 is not numeric", "ISA"))
    trailer = interchange.trailer
    if trailer is None:
        errors.append(
            Issue(InterchangeError.PREMATURE_END_OF_FILE.value, f"{label}: IEA trailer missing (truncated?)", "IEA")
        )
    else:
        if not _same_number(trailer.element(2), interchange.control_number):
            errors.append(
                Issue(
                    InterchangeError.CONTROL_NUMBER_MISMATCH.value,
                    f"{label}: IEA02 {trailer.element(2)!r} does not match ISA13",
                    "IEA",
                )
            )
        if _as_int(trailer.element(1)) != len(interchange.groups):
            errors.append(
                Issue(
                    InterchangeError.GROUP_COUNT_MISMATCH.value,
                    f"{label}: IEA01 says {trailer.element(1)!r} groups, found {len(interchange.groups)}",
                    "IEA",
                )
            )
    if not interchange.groups and not interchange.acknowledgements:
        errors.append(
            Issue(
                InterchangeError.INVALID_CONTENT.value,
                f"{label}: no functional group (GS..GE) in the interchange (cut short or damaged GS?)",
                "GS",
            )
        )
    strays = list(interchange.stray_segments)
    for group in interchange.groups:
        strays.extend(group.stray_segments)
    if strays:
        ids = ", ".join(s.id or "(empty)" for s in strays[:5])
        errors.append(
            Issue(
                InterchangeError.INVALID_CONTENT.value,
                f"{label}: {len(strays)} segment(s) outside any group/transaction set: {ids}",
                strays[0].id,
            )
        )
    seen: set[str] = set()
    groups: list[GroupReport] = []
    for group in interchange.groups:
        duplicate = group.control_number in seen
        seen.add(group.control_number)
        groups.append(validate_group(group, supported_sets, duplicate=duplicate))
    return InterchangeReport(
        interchange.sender_qualifier, interchange.sender_id, interchange.control_number, tuple(groups), tuple(errors)
    )


def validate_group(
    group: FunctionalGroup, supported_sets: Collection[str] | None = None, *, duplicate: bool = False
) -> GroupReport:
    """GE01/GE02 checks for the group plus per-set checks; ``duplicate``: its GS06 came before in the interchange."""
    errors: list[Issue] = []
    label = f"group {group.functional_id!r} {group.control_number!r}"
    if not (is_digits(group.control_number) and len(group.control_number) <= 9):
        errors.append(Issue(GroupError.CONTROL_NUMBER_SYNTAX, f"{label}: GS06 is not a 1-9 digit number", "GS"))
    if duplicate:
        errors.append(
            Issue(GroupError.CONTROL_NUMBER_NOT_UNIQUE, f"{label}: GS06 repeated within the interchange", "GS")
        )
    declared: int | None = None
    trailer = group.trailer
    if trailer is None:
        errors.append(Issue(GroupError.TRAILER_MISSING, f"{label}: GE trailer missing", "GE"))
    else:
        declared = _as_int(trailer.element(1))
        if not _same_number(trailer.element(2), group.control_number):
            errors.append(
                Issue(
                    GroupError.CONTROL_NUMBER_MISMATCH,
                    f"{label}: GE02 {trailer.element(2)!r} does not match GS06",
                    "GE",
                )
            )
        if declared != len(group.transactions):
            errors.append(
                Issue(
                    GroupError.SET_COUNT_MISMATCH,
                    f"{label}: GE01 says {trailer.element(1)!r} transaction sets, found {len(group.transactions)}",
                    "GE",
                )
            )
    seen: set[str] = set()
    sets: list[SetReport] = []
    for transaction in group.transactions:
        duplicate = transaction.control_number in seen
        seen.add(transaction.control_number)
        sets.append(validate_transaction(transaction, supported_sets, duplicate=duplicate))
    return GroupReport(group.functional_id, group.control_number, tuple(sets), tuple(errors), declared)


def validate_transaction(
    transaction: TransactionSet, supported_sets: Collection[str] | None = None, *, duplicate: bool = False
) -> SetReport:
    """SE01/SE02 checks, supported set code, segment id syntax."""
    errors: list[Issue] = []
    label = f"transaction set {transaction.code!r} {transaction.control_number!r}"
    if not (is_digits(transaction.code) and len(transaction.code) == 3):
        errors.append(Issue(SetError.INVALID_SET_ID, f"{label}: ST01 is not a transaction set code", "ST", 1))
    elif supported_sets is not None and transaction.code not in supported_sets:
        errors.append(Issue(SetError.NOT_SUPPORTED, f"{label}: transaction set {transaction.code} not supported"))
    if (
        not 4 <= len(transaction.control_number) <= 9
        or printable(transaction.control_number) != transaction.control_number
    ):
        errors.append(
            Issue(SetError.INVALID_CONTROL_NUMBER, f"{label}: ST02 must be 4-9 printable characters", "ST", 1)
        )
    if duplicate:
        errors.append(Issue(SetError.CONTROL_NUMBER_NOT_UNIQUE, f"{label}: ST02 repeated within the group", "ST", 1))
    trailer = transaction.trailer
    if trailer is None:
        errors.append(Issue(SetError.TRAILER_MISSING, f"{label}: SE trailer missing", "SE"))
    else:
        position = transaction.segment_count
        if trailer.element(2) != transaction.control_number:
            errors.append(
                Issue(
                    SetError.CONTROL_NUMBER_MISMATCH,
                    f"{label}: SE02 {trailer.element(2)!r} does not match ST02",
                    "SE",
                    position,
                )
            )
        if _as_int(trailer.element(1)) != transaction.segment_count:
            errors.append(
                Issue(
                    SetError.SEGMENT_COUNT_MISMATCH,
                    f"{label}: SE01 says {trailer.element(1)!r} segments, found {transaction.segment_count}",
                    "SE",
                    position,
                )
            )
    for index, segment in enumerate(transaction.segments, start=2):
        if not segment.has_valid_id:
            errors.append(
                Issue(
                    SetError.SEGMENTS_IN_ERROR,
                    f"{label}: segment {index} has an invalid id {segment.id!r}",
                    segment.id,
                    index,
                )
            )
        # No X12 character set has control characters (NUL, tab...): they are damage, and no store takes NUL.
        if has_control_characters("".join(segment.elements)):
            damaged = next(n for n, value in enumerate(segment.elements, start=1) if has_control_characters(value))
            errors.append(
                Issue(
                    SetError.SEGMENTS_IN_ERROR,
                    f"{label}: {segment.id}{damaged:02d} (segment {index}) holds a control character",
                    segment.id,
                    index,
                )
            )
    return SetReport(transaction.code, transaction.control_number, tuple(errors))


def _as_int(text: str) -> int | None:
    text = text.strip()
    return int(text) if is_digits(text) else None


def _same_number(a: str, b: str) -> bool:
    left, right = _as_int(a), _as_int(b)
    return left is not None and left == right


def _unique(values: Iterable[_T]) -> tuple[_T, ...]:
    return tuple(dict.fromkeys(values))


def acknowledgement_report(interchange: Interchange, supported_sets: Collection[str] | None) -> InterchangeReport:
    """The report a 997 answers with: a broken ISA/IEA envelope rejects every group (nothing is applied)."""
    report = validate_interchange(interchange, supported_sets)
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
    """The report with the sets the receiver could not read marked rejected (AK5 R, code 5) with the reason."""
    groups = tuple(
        dataclasses.replace(
            group,
            sets=tuple(
                dataclasses.replace(
                    set_report,
                    errors=(*set_report.errors, Issue(SetError.SEGMENTS_IN_ERROR, refused[(group_index, set_index)])),
                )
                if (group_index, set_index) in refused
                else set_report
                for set_index, set_report in enumerate(group.sets)
            ),
        )
        for group_index, group in enumerate(report.groups)
    )
    return dataclasses.replace(report, groups=groups)
