"""Serialise Interchange structures to X12 text: fixed-width ISA, and SE/GE/IEA counts computed, never trusted."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from .model import (
    DEFAULT_DELIMITERS,
    Delimiters,
    FunctionalGroup,
    Interchange,
    Segment,
    TransactionSet,
    X12WriteError,
    is_digits,
    printable,
)
from .reader import ISA_WIDTHS

MAX_CONTROL_NUMBER = 999_999_999


@dataclass(frozen=True, slots=True)
class Partners:
    """Who sends to whom: ISA05-08 and (defaulting to the same ids) GS02/GS03."""

    sender_qualifier: str
    sender_id: str
    receiver_qualifier: str
    receiver_id: str
    application_sender_id: str | None = None
    application_receiver_id: str | None = None
    usage_indicator: str = "P"
    ack_requested: str = "0"

    def reply(self) -> Partners:
        """The same pair seen from the other side (for acknowledgements)."""
        return Partners(
            self.receiver_qualifier,
            self.receiver_id,
            self.sender_qualifier,
            self.sender_id,
            self.application_receiver_id,
            self.application_sender_id,
            self.usage_indicator,
            "0",
        )

    @classmethod
    def reply_to(cls, interchange: Interchange, group: FunctionalGroup | None = None) -> Partners:
        """Partners for answering ``interchange`` (and ``group``): its receiver becomes our sender."""
        return cls(
            printable(interchange.receiver_qualifier),
            printable(interchange.receiver_id),
            printable(interchange.sender_qualifier),
            printable(interchange.sender_id),
            printable(group.receiver_id) if group else None,
            printable(group.sender_id) if group else None,
            printable(interchange.usage_indicator) or "P",
            "0",
        )


# Delimiter choices for answers that echo a partner's values; the control characters at the end always work,
# because echoed values are stripped of control characters first.
_ELEMENT_CHOICES = "*|^!`\x1d"
_COMPONENT_CHOICES = ">:\\@\x1f"
_SEGMENT_CHOICES = "~'\x1c"


def delimiters_avoiding(interchange: Interchange, preferred: Delimiters = DEFAULT_DELIMITERS) -> Delimiters:
    """``preferred`` unless a value of ``interchange`` contains one of them: then the first set that collides with
    nothing, so that echoing a partner's values (written with other delimiters) never fails."""
    used = set("".join(_values(interchange)))
    if not used.intersection(preferred.reserved):
        return preferred
    element = next((c for c in _ELEMENT_CHOICES if c not in used), None)
    component = next((c for c in _COMPONENT_CHOICES if c not in used), None)
    segment = next((c for c in _SEGMENT_CHOICES if c not in used), None)
    if element is None or component is None or segment is None:
        raise X12WriteError("no delimiter set avoids every character of the values to write")
    return Delimiters(element, component, segment, None, preferred.suffix)


def _values(interchange: Interchange) -> Iterator[str]:
    yield from (
        interchange.sender_id,
        interchange.receiver_id,
        interchange.sender_qualifier,
        interchange.receiver_qualifier,
        interchange.usage_indicator,
    )
    for segment in interchange.acknowledgements:
        yield from segment.elements
    for group in interchange.groups:
        yield from _gs(group).elements
        for transaction in group.transactions:
            for segment in transaction_segments(transaction):
                yield from segment.elements


def control_number(value: int | str, width: int) -> str:
    """A control number zero-padded to ``width`` (9 for ISA13, 4 for ST02, 1 for GS06)."""
    text = str(value).strip()
    if not is_digits(text) or not 1 <= int(text) <= MAX_CONTROL_NUMBER:
        raise X12WriteError(f"control number must be an integer 1..{MAX_CONTROL_NUMBER}, got {value!r}")
    return text.lstrip("0").rjust(width, "0")


def envelope(
    transactions: Sequence[TransactionSet],
    *,
    partners: Partners,
    functional_id: str,
    interchange_control_number: int | str,
    group_control_number: int | str,
    prepared_at: datetime,
    version: str = "004010",
    delimiters: Delimiters = DEFAULT_DELIMITERS,
) -> Interchange:
    """Wrap transaction sets of one functional id into a one-group interchange (trailers are left to the writer)."""
    group = FunctionalGroup(
        functional_id=functional_id,
        sender_id=partners.application_sender_id or partners.sender_id,
        receiver_id=partners.application_receiver_id or partners.receiver_id,
        date=prepared_at.strftime("%Y%m%d"),
        time=prepared_at.strftime("%H%M"),
        control_number=control_number(group_control_number, 1),
        version=version,
        transactions=list(transactions),
    )
    return Interchange(
        sender_qualifier=partners.sender_qualifier,
        sender_id=partners.sender_id,
        receiver_qualifier=partners.receiver_qualifier,
        receiver_id=partners.receiver_id,
        date=prepared_at.strftime("%y%m%d"),
        time=prepared_at.strftime("%H%M"),
        control_number=control_number(interchange_control_number, 9),
        usage_indicator=partners.usage_indicator,
        ack_requested=partners.ack_requested,
        groups=[group],
        delimiters=delimiters,
    )


def serialize_interchanges(interchanges: Iterable[Interchange], delimiters: Delimiters | None = None) -> str:
    return "".join(serialize_interchange(i, delimiters) for i in interchanges)


def serialize_interchange(interchange: Interchange, delimiters: Delimiters | None = None) -> str:
    """The interchange as X12 text; SE01/SE02, GE01/GE02, IEA01/IEA02 are recomputed from the structure."""
    d = delimiters or interchange.delimiters
    out = [_isa(interchange, d)]
    out.extend(serialize_segment(segment, d) for segment in interchange.acknowledgements)
    for group in interchange.groups:
        out.append(serialize_segment(_gs(group), d))
        for transaction in group.transactions:
            out.extend(serialize_segment(s, d) for s in transaction_segments(transaction))
        out.append(serialize_segment(Segment.of("GE", len(group.transactions), group.control_number), d))
    out.append(
        serialize_segment(Segment.of("IEA", len(interchange.groups), control_number(interchange.control_number, 9)), d)
    )
    return "".join(out)


def transaction_segments(transaction: TransactionSet) -> list[Segment]:
    """ST + body + SE with the right count."""
    st = Segment.of("ST", transaction.code, transaction.control_number, transaction.implementation_reference)
    se = Segment.of("SE", transaction.segment_count, transaction.control_number)
    return [st, *transaction.segments, se]


def serialize_segment(segment: Segment, delimiters: Delimiters = DEFAULT_DELIMITERS) -> str:
    """One segment plus its terminator (and the optional suffix, e.g. newline)."""
    if not segment.has_valid_id:
        raise X12WriteError(f"invalid segment id {segment.id!r}")
    reserved = delimiters.reserved
    for number, value in enumerate(segment.elements, start=1):
        bad = reserved.intersection(value)
        if bad:
            raise X12WriteError(
                f"{segment.id}{number:02d} {value!r} contains delimiter character(s) {''.join(sorted(bad))!r}"
            )
        if "\r" in value or "\n" in value:
            raise X12WriteError(f"{segment.id}{number:02d} {value!r} contains a line break")
    return delimiters.element.join((segment.id, *segment.elements)) + delimiters.segment + delimiters.suffix


def _gs(group: FunctionalGroup) -> Segment:
    return Segment.of(
        "GS",
        group.functional_id,
        group.sender_id,
        group.receiver_id,
        group.date,
        group.time,
        group.control_number,
        group.agency or "X",
        group.version,
    )


def _isa(interchange: Interchange, d: Delimiters) -> str:
    repetition = d.repetition if d.repetition is not None and interchange.version >= "00402" else None
    values = [
        interchange.authorization_qualifier,
        interchange.authorization_info,
        interchange.security_qualifier,
        interchange.security_info,
        interchange.sender_qualifier,
        interchange.sender_id,
        interchange.receiver_qualifier,
        interchange.receiver_id,
        interchange.date,
        interchange.time,
        repetition or interchange.standards_id,
        interchange.version,
        control_number(interchange.control_number, 9),
        interchange.ack_requested,
        interchange.usage_indicator,
    ]
    fields: list[str] = []
    for number, (value, width) in enumerate(zip(values, ISA_WIDTHS[:15], strict=True), start=1):
        if len(value) > width:
            raise X12WriteError(f"ISA{number:02d} {value!r} is longer than its fixed width {width}")
        if number != 11 and d.reserved.intersection(value):
            raise X12WriteError(f"ISA{number:02d} {value!r} contains a delimiter")
        fields.append(value.ljust(width))
    text = d.element.join(("ISA", *fields, d.component)) + d.segment
    # Defensive: the reader finds delimiters by position, so the width is a hard guarantee.
    if len(text) != 106:
        raise X12WriteError(f"ISA came out {len(text)} characters long")
    return text + d.suffix
