"""Plain data structures for an X12 interchange (envelopes, segments, delimiters) and the X12 errors."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation


class X12Error(ValueError):
    """Base of every error this package raises on purpose (never an IndexError & co)."""


class X12SyntaxError(X12Error):
    """The bytes are not a readable X12 interchange (no ISA, bad ISA, garbage between interchanges)."""

    def __init__(self, message: str, offset: int | None = None, ta1_code: str = "024") -> None:
        super().__init__(message if offset is None else f"{message} (at character {offset})")
        self.offset = offset
        # TA1 note code (TA105) a receiver would send back for this problem.
        self.ta1_code = ta1_code


class X12ContentError(X12Error):
    """A transaction set is readable but its content cannot be mapped (missing/invalid mandatory element)."""


class X12WriteError(X12Error):
    """A value cannot be serialised (contains a delimiter, does not fit a fixed-width ISA field...)."""


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The four separators of an interchange; ``suffix`` is written after each terminator (e.g. newline)."""

    element: str = "*"
    component: str = ">"
    segment: str = "~"
    repetition: str | None = None
    suffix: str = ""

    def __post_init__(self) -> None:
        chars = [self.element, self.component, self.segment]
        if self.repetition is not None:
            chars.append(self.repetition)
        if any(len(c) != 1 for c in chars):
            raise X12WriteError(f"every delimiter must be exactly one character: {chars!r}")
        if len(set(chars)) != len(chars):
            raise X12WriteError(f"delimiters must be distinct: {chars!r}")
        if any(c.isalnum() or c == " " for c in chars):
            raise X12WriteError(f"delimiters must not be letters, digits or space: {chars!r}")

    @property
    def reserved(self) -> frozenset[str]:
        chars = {self.element, self.component, self.segment}
        if self.repetition is not None:
            chars.add(self.repetition)
        return frozenset(chars)


DEFAULT_DELIMITERS = Delimiters()
NEWLINE_DELIMITERS = Delimiters(suffix="\n")

_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}")


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment: its id and its elements; ``elements[0]`` is element 01 (X12 numbering is 1-based)."""

    id: str
    elements: tuple[str, ...] = ()
    # Kept out of equality: two segments with the same data are equal whatever file they came from.
    component_separator: str = field(default=">", compare=False, repr=False)

    @classmethod
    def of(cls, segment_id: str, *elements: str | int | Decimal | None) -> Segment:
        """Build a segment, turning None into an empty element and trimming trailing empty elements."""
        values = ["" if e is None else format_number(e) if isinstance(e, Decimal | int) else e for e in elements]
        while values and values[-1] == "":
            values.pop()
        return cls(segment_id, tuple(values))

    def element(self, position: int, default: str = "") -> str:
        """Element ``position`` (1-based, as in ``BEG03``) or ``default`` when the segment is shorter."""
        if 1 <= position <= len(self.elements):
            return self.elements[position - 1]
        return default

    def components(self, position: int, separator: str | None = None) -> list[str]:
        """Element ``position`` split on the component separator (the one read from the ISA by default)."""
        return self.element(position).split(separator or self.component_separator)

    @property
    def has_valid_id(self) -> bool:
        return _SEGMENT_ID.fullmatch(self.id) is not None

    def __len__(self) -> int:
        return len(self.elements)


@dataclass(slots=True)
class TransactionSet:
    """ST..SE: ``segments`` is the body only (no ST, no SE); ``trailer`` is the SE read, None if missing."""

    code: str
    control_number: str
    segments: list[Segment] = field(default_factory=list)
    implementation_reference: str = ""
    trailer: Segment | None = None

    @property
    def segment_count(self) -> int:
        """The value SE01 must carry: body plus ST and SE."""
        return len(self.segments) + 2

    def find(self, segment_id: str) -> Segment | None:
        return next((s for s in self.segments if s.id == segment_id), None)


@dataclass(slots=True)
class FunctionalGroup:
    """GS..GE; ``trailer`` is the GE read (None if missing); ``stray_segments`` sit between sets."""

    functional_id: str
    sender_id: str
    receiver_id: str
    date: str
    time: str
    control_number: str
    version: str = "004010"
    agency: str = "X"
    transactions: list[TransactionSet] = field(default_factory=list)
    trailer: Segment | None = None
    stray_segments: list[Segment] = field(default_factory=list)


@dataclass(slots=True)
class Interchange:
    """ISA..IEA with the raw (space-stripped) ISA values; ``trailer`` is the IEA read, None if missing."""

    sender_qualifier: str
    sender_id: str
    receiver_qualifier: str
    receiver_id: str
    date: str
    time: str
    control_number: str
    usage_indicator: str = "P"
    version: str = "00401"
    standards_id: str = "U"
    ack_requested: str = "0"
    authorization_qualifier: str = "00"
    authorization_info: str = ""
    security_qualifier: str = "00"
    security_info: str = ""
    groups: list[FunctionalGroup] = field(default_factory=list)
    delimiters: Delimiters = DEFAULT_DELIMITERS
    trailer: Segment | None = None
    stray_segments: list[Segment] = field(default_factory=list)
    # TA1 interchange acknowledgements (they sit between the ISA and the first group).
    acknowledgements: list[Segment] = field(default_factory=list)

    @property
    def prepared_at(self) -> datetime | None:
        """ISA09/ISA10 as a datetime (None when they are not a valid date/time)."""
        return parse_datetime(self.date, self.time)


def format_number(value: Decimal | int) -> str:
    """X12 R/N0 rendering: no exponent, no trailing zeros, no '+'."""
    if isinstance(value, int):
        return str(value)
    if not value.is_finite():
        raise X12WriteError(f"not a finite number: {value}")
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def is_digits(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts '²' or '٣', which ``int`` refuses or X12 does not allow."""
    return text.isascii() and text.isdigit()


# The R (decimal) data type: digits with an optional sign and decimal point, at most 15 digits, no exponent.
_DECIMAL = re.compile(r"[+-]?(?=\.?\d)\d*\.?\d*")
_MAX_DIGITS = 15


def parse_decimal(text: str, where: str) -> Decimal:
    value = text.strip()
    if not (value.isascii() and _DECIMAL.fullmatch(value)):
        raise X12ContentError(f"{where}: {text!r} is not a number")
    if sum(c.isdigit() for c in value) > _MAX_DIGITS:
        raise X12ContentError(f"{where}: {text!r} has more than {_MAX_DIGITS} digits")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise X12ContentError(f"{where}: {text!r} is not a number") from None


def parse_int(text: str, where: str) -> int:
    digits = text.strip()
    if not is_digits(digits.removeprefix("-")):
        raise X12ContentError(f"{where}: {text!r} is not an integer")
    return int(digits)


def parse_date(text: str, where: str) -> date:
    """CCYYMMDD or YYMMDD (the ISA form) into a date."""
    text = text.strip()
    try:
        if len(text) == 8:
            return datetime.strptime(text, "%Y%m%d").date()
        if len(text) == 6:
            return datetime.strptime(text, "%y%m%d").date()
    except ValueError:
        pass
    raise X12ContentError(f"{where}: {text!r} is not a CCYYMMDD date")


def parse_datetime(day: str, hhmm: str) -> datetime | None:
    try:
        parsed_day = parse_date(day, "date")
        parsed_time = datetime.strptime(hhmm.strip()[:4], "%H%M").time() if hhmm.strip() else time(0, 0)
    except (X12ContentError, ValueError):
        return None
    return datetime.combine(parsed_day, parsed_time)


# Characters no free text may carry in any delimiter set we write, plus control characters.
_UNSAFE_TEXT = re.compile(r"[*~>^|\x00-\x1f\x7f]")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def printable(text: str) -> str:
    """``text`` without control characters: what we can echo back of a value a partner sent."""
    return _CONTROL.sub("", text)


def has_control_characters(text: str) -> bool:
    return _CONTROL.search(text) is not None


def clean_text(text: str) -> str:
    """Make free text (names, addresses) safe for X12: delimiter-like and control characters become spaces."""
    return " ".join(_UNSAFE_TEXT.sub(" ", text).split())


# Free-text notes a partner may attach to a document or a line: NTE02, MSG01, N903 (or N902 when no MSG
# follows: an N9 opening MSGs only labels them).
_NOTE_ELEMENTS = {"NTE": (2,), "MSG": (1,), "N9": (3, 2)}


def notes_of(segments: list[Segment]) -> tuple[str, ...]:
    """The words of the NTE/MSG/N9 segments among ``segments``, in order, without control characters."""
    found = []
    for index, segment in enumerate(segments):
        positions = _NOTE_ELEMENTS.get(segment.id, ())
        if segment.id == "N9" and index + 1 < len(segments) and segments[index + 1].id == "MSG":
            positions = (3,)
        for position in positions:
            text = " ".join(printable(segment.element(position)).split())
            if text:
                found.append(text)
                break
    return tuple(found)
