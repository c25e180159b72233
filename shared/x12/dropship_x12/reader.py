"""Read raw X12 text into Interchange/FunctionalGroup/TransactionSet structures (syntax only, no count checks)."""

from __future__ import annotations

from .model import (
    Delimiters,
    FunctionalGroup,
    Interchange,
    Segment,
    TransactionSet,
    X12SyntaxError,
)

ISA_LENGTH = 106
# ISA01..ISA16 widths; the reader insists on them because the delimiters are found by position.
ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
# Some systems pad files with NULs or a DOS end-of-file mark; they carry no data.
_FILE_PADDING = " \t\r\n\x00\x1a"
_LINE_BREAKS = "\r\n"
# "ISA" in the EBCDIC code pages mainframes write (cp037/cp500), after optional spaces and line breaks.
_EBCDIC_ISA = "ISA".encode("cp037")
_EBCDIC_PADDING = " \r\n".encode("cp037")


def read_interchanges(data: str | bytes) -> list[Interchange]:
    """Split ``data`` into interchanges, keeping structure even when trailers are missing.

    Missing SE/GE/IEA show up as ``trailer is None`` and segments outside any
    set/group as ``stray_segments``; :mod:`.validation` turns those into 997/TA1
    codes.  Only unreadable input raises :class:`X12SyntaxError`: no ISA at the
    start, an ISA that is not the fixed 106 characters, or non-X12 data between
    interchanges.
    """
    text = _decode(data)
    pos = _skip(text, 0, _FILE_PADDING)
    if pos >= len(text):
        raise X12SyntaxError("no X12 data: the input is empty", 0, "023")
    text = _unwrap(text, pos)
    interchanges: list[Interchange] = []
    while pos < len(text):
        if not text.startswith("ISA", pos):
            what = "does not start with an ISA segment" if not interchanges else "has data after the last IEA"
            raise X12SyntaxError(f"input {what}: {text[pos : pos + 20]!r}", pos)
        interchange, pos = _read_interchange(text, pos)
        interchanges.append(interchange)
        pos = _skip(text, pos, _FILE_PADDING)
    return interchanges


def read_interchange(data: str | bytes) -> Interchange:
    """The single interchange in ``data`` (X12SyntaxError when there are several)."""
    interchanges = read_interchanges(data)
    if len(interchanges) != 1:
        raise X12SyntaxError(f"expected one interchange, found {len(interchanges)}")
    return interchanges[0]


def parse_segment(raw: str, delimiters: Delimiters) -> Segment:
    """One segment's text (without its terminator) into a Segment."""
    parts = raw.strip("\r\n").split(delimiters.element)
    return Segment(parts[0], tuple(parts[1:]), delimiters.component)


def read_isa(raw: str, offset: int = 0) -> tuple[Interchange, Delimiters]:
    """Check the fixed-width ISA (106 characters incl. its terminator) and take the delimiters from it."""
    if not raw.startswith("ISA"):
        raise X12SyntaxError(f"an interchange must start with ISA, found {raw[:20]!r}", offset)
    if len(raw) < ISA_LENGTH:
        raise X12SyntaxError(f"ISA segment is truncated: {len(raw)} of {ISA_LENGTH} characters", offset, "023")
    element = raw[3]
    if element.isalnum() or element.isspace():
        raise X12SyntaxError(f"invalid element separator {element!r} in ISA", offset, "026")
    fields = raw[4:105].split(element)
    if len(fields) != len(ISA_WIDTHS):
        raise X12SyntaxError(
            f"ISA must have 16 fixed-width elements in {ISA_LENGTH} characters, found {len(fields)} elements",
            offset,
            "022",
        )
    for number, (value, width) in enumerate(zip(fields, ISA_WIDTHS, strict=True), start=1):
        if len(value) != width:
            raise X12SyntaxError(
                f"ISA{number:02d} must be {width} characters wide, found {value!r}; the ISA is not fixed-width",
                offset,
                "022",
            )
    component, terminator = raw[104], raw[105]
    if terminator.isalnum() or terminator == " " or terminator in (element, component):
        raise X12SyntaxError(f"invalid segment terminator {terminator!r} in ISA", offset, "004")
    if component.isalnum() or component == " " or component == element:
        raise X12SyntaxError(f"invalid component separator {component!r} in ISA", offset, "027")
    version = fields[11]
    # ISA11 became the repetition separator in 00402; before that it is the standards id 'U'.
    repetition = fields[10] if version >= "00402" and not fields[10].isalnum() else None
    if repetition in (element, component, terminator):
        repetition = None
    try:
        delimiters = Delimiters(element, component, terminator, repetition)
    except ValueError as exc:
        raise X12SyntaxError(f"ISA delimiters are unusable: {exc}", offset, "026") from None
    interchange = Interchange(
        authorization_qualifier=fields[0],
        authorization_info=fields[1].rstrip(),
        security_qualifier=fields[2],
        security_info=fields[3].rstrip(),
        sender_qualifier=fields[4],
        sender_id=fields[5].rstrip(),
        receiver_qualifier=fields[6],
        receiver_id=fields[7].rstrip(),
        date=fields[8],
        time=fields[9],
        standards_id=fields[10],
        version=version,
        control_number=fields[12],
        ack_requested=fields[13],
        usage_indicator=fields[14],
        delimiters=delimiters,
    )
    return interchange, delimiters


def _decode(data: str | bytes) -> str:
    if isinstance(data, bytes):
        if data.lstrip(_EBCDIC_PADDING).startswith(_EBCDIC_ISA):
            raise X12SyntaxError("the input is EBCDIC-encoded; send X12 as ASCII or UTF-8 text", 0, "024")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # Legacy trading partners send Latin-1; every byte maps, so this cannot fail.
            text = data.decode("latin-1")
    else:
        text = data
    return text.lstrip("\ufeff")


def _unwrap(text: str, start: int) -> str:
    """Without a line break as segment terminator, CR/LF are formatting (files hard-wrapped at 80 columns
    split segments, even the ISA) and never data: drop them all before reading."""
    isa = text[start : start + ISA_LENGTH]
    if len(isa) == ISA_LENGTH and isa[-1] in _LINE_BREAKS and not any(c in isa[:-1] for c in _LINE_BREAKS):
        return text  # newline-terminated segments: the line breaks are the structure
    if not any(c in text for c in _LINE_BREAKS):
        return text
    return text[:start] + text[start:].replace("\r", "").replace("\n", "")


def _skip(text: str, pos: int, chars: str) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def _read_interchange(text: str, start: int) -> tuple[Interchange, int]:
    interchange, delimiters = read_isa(text[start : start + ISA_LENGTH], start)
    # Whitespace after a terminator is formatting, unless it is itself a delimiter.
    formatting = "".join(c for c in " \t\r\n" if c not in (delimiters.element, delimiters.component))
    builder = _EnvelopeBuilder(interchange)
    pos = start + ISA_LENGTH
    while True:
        pos = _skip(text, pos, formatting)
        if pos >= len(text) or text.startswith("ISA", pos):
            break  # end of input or next interchange: this one lacks its IEA
        end = text.find(delimiters.segment, pos)
        if end < 0:
            end = len(text)  # last segment without a terminator, or truncated mid-segment
        segment = parse_segment(text[pos:end], delimiters)
        pos = end + 1
        if segment.id == "IEA":
            builder.close_group()
            interchange.trailer = segment
            break
        builder.add(segment)
    builder.close_group()
    return interchange, pos


class _EnvelopeBuilder:
    """Places segments into groups and sets; a missing trailer just leaves the container open-ended."""

    def __init__(self, interchange: Interchange) -> None:
        self.interchange = interchange
        self.group: FunctionalGroup | None = None
        self.transaction: TransactionSet | None = None

    def add(self, segment: Segment) -> None:
        if segment.id == "GS":
            self.close_group()
            self.group = FunctionalGroup(
                functional_id=segment.element(1),
                sender_id=segment.element(2),
                receiver_id=segment.element(3),
                date=segment.element(4),
                time=segment.element(5),
                control_number=segment.element(6),
                agency=segment.element(7),
                version=segment.element(8),
            )
            self.interchange.groups.append(self.group)
        elif segment.id == "GE":
            self.close_transaction()
            if self.group is None:
                self.interchange.stray_segments.append(segment)
            else:
                self.group.trailer = segment
                self.group = None
        elif segment.id == "TA1" and self.group is None and not self.interchange.groups:
            self.interchange.acknowledgements.append(segment)
        elif self.group is None:
            self.interchange.stray_segments.append(segment)
        elif segment.id == "ST":
            self.close_transaction()
            self.transaction = TransactionSet(
                code=segment.element(1),
                control_number=segment.element(2),
                implementation_reference=segment.element(3),
            )
            self.group.transactions.append(self.transaction)
        elif self.transaction is None:
            self.group.stray_segments.append(segment)
        elif segment.id == "SE":
            self.transaction.trailer = segment
            self.transaction = None
        else:
            self.transaction.segments.append(segment)

    def close_transaction(self) -> None:
        self.transaction = None

    def close_group(self) -> None:
        self.close_transaction()
        self.group = None
