"""X12 reader: delimiters from the ISA, tolerated formatting, and clear errors for unreadable input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dropship_x12 import (
    Segment,
    X12Error,
    X12SyntaxError,
    read_interchange,
    read_interchanges,
    validate_interchange,
)

ISA = "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *240102*0304*U*00401*000000042*0*P*>~"
BODY = (
    "GS*PR*SENDER*RECEIVER*20240102*0304*7*X*004010~"
    "ST*855*0001~BAK*00*AD*PO1*20240102~SE*3*0001~"
    "GE*1*7~IEA*1*000000042~"
)
DOC = ISA + BODY


def test_isa_fields_and_structure() -> None:
    ic = read_interchange(DOC)
    assert (ic.sender_qualifier, ic.sender_id, ic.receiver_id) == ("ZZ", "SENDER", "RECEIVER")
    assert (ic.control_number, ic.usage_indicator, ic.version) == ("000000042", "P", "00401")
    assert ic.delimiters.element == "*" and ic.delimiters.component == ">" and ic.delimiters.segment == "~"
    assert ic.prepared_at is not None and ic.prepared_at.year == 2024
    [group] = ic.groups
    assert (group.functional_id, group.control_number, group.version) == ("PR", "7", "004010")
    [ts] = group.transactions
    assert (ts.code, ts.control_number) == ("855", "0001")
    assert ts.segments == [Segment("BAK", ("00", "AD", "PO1", "20240102"))]
    assert ts.trailer == Segment("SE", ("3", "0001"))
    assert validate_interchange(ic).accepted


def test_other_delimiters_are_taken_from_the_isa() -> None:
    doc = DOC.replace("*", "|").replace("~", "'\n").replace(">", "^")
    ic = read_interchange(doc)
    assert (ic.delimiters.element, ic.delimiters.component, ic.delimiters.segment) == ("|", "^", "'")
    assert ic.groups[0].transactions[0].segments[0].element(3) == "PO1"
    assert validate_interchange(ic).accepted


def test_newline_as_segment_terminator() -> None:
    doc = (DOC[:-1].replace("~", "\n")) + "\n"
    ic = read_interchange(doc)
    assert ic.delimiters.segment == "\n"
    assert validate_interchange(ic).accepted


def test_bom_crlf_and_leading_whitespace_are_tolerated() -> None:
    doc = ("\ufeff \r\n" + DOC.replace("~", "~\r\n")).encode("utf-8")
    ic = read_interchange(doc)
    assert validate_interchange(ic).accepted
    assert ic.groups[0].transactions[0].segments[0].id == "BAK"


def test_crlf_terminated_segments_when_isa_ends_with_cr() -> None:
    doc = DOC.replace("~", "\r\n")
    ic = read_interchange(doc)
    assert ic.delimiters.segment == "\r"
    assert validate_interchange(ic).accepted


def test_several_interchanges_with_their_own_delimiters() -> None:
    second = DOC.replace("*", "|").replace("000000042", "000000043")
    interchanges = read_interchanges(DOC + "\n" + second)
    assert [i.control_number for i in interchanges] == ["000000042", "000000043"]
    assert all(validate_interchange(i).accepted for i in interchanges)


def test_last_segment_without_terminator() -> None:
    ic = read_interchange(DOC[:-1])
    assert ic.trailer == Segment("IEA", ("1", "000000042"))


def test_components_and_missing_elements() -> None:
    segment = Segment("PO1", ("1", "A>B>C"), ">")
    assert segment.components(2) == ["A", "B", "C"]
    assert segment.element(9) == "" and segment.element(0) == "" and segment.element(-1) == ""
    assert segment.components(9) == [""]


def test_latin1_bytes_are_read() -> None:
    doc = DOC.replace("PO1", "PO\u00e91").encode("latin-1")
    assert read_interchange(doc).groups[0].transactions[0].segments[0].element(3) == "PO\u00e91"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ("", "empty"),
        ("   \r\n", "empty"),
        ("hello world", "does not start with an ISA"),
        ("GS*PO*A*B~", "does not start with an ISA"),
        (ISA[:80], "truncated"),
        (ISA.replace("SENDER         ", "SENDER") + BODY, "fixed-width"),
        (ISA.replace("*00401", "*0401") + BODY, "fixed-width"),
        (ISA.replace("SENDER ", "SEND*R ") + BODY, "16 fixed-width elements"),
        (ISA.replace("*", "A"), "element separator"),
        (ISA[:-1] + "X" + BODY, "segment terminator"),
        (ISA[:-2] + "A~" + BODY, "component separator"),
        (DOC + "garbage after", "after the last IEA"),
    ],
)
def test_unreadable_input_raises_a_clear_x12_error(data: str, fragment: str) -> None:
    with pytest.raises(X12SyntaxError, match=fragment):
        read_interchanges(data)


def test_isa_errors_carry_ta1_codes() -> None:
    with pytest.raises(X12SyntaxError) as short:
        read_interchanges(ISA[:50])
    assert short.value.ta1_code == "023"
    with pytest.raises(X12SyntaxError) as bad_terminator:
        read_interchanges(ISA[:-1] + "X")
    assert bad_terminator.value.ta1_code == "004"


def test_trailing_padding_after_iea_is_ignored() -> None:
    assert len(read_interchanges(DOC + "\r\n\x1a\x00")) == 1


@pytest.mark.parametrize("cut", range(106, len(DOC) - 1))
def test_truncated_anywhere_after_the_isa_is_reported_not_crashing(cut: int) -> None:
    ic = read_interchange(DOC[:cut])
    report = validate_interchange(ic)
    assert not report.accepted
    assert report.all_issues()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_never_raises_anything_but_x12_errors(text: str) -> None:
    for candidate in (text, ISA + text, DOC[: len(DOC) // 2] + text):
        try:
            interchanges = read_interchanges(candidate)
        except X12Error:
            continue
        for ic in interchanges:
            validate_interchange(ic, {"855"})


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_x12_errors(data: bytes) -> None:
    for candidate in (data, ISA.encode() + data):
        try:
            interchanges = read_interchanges(candidate)
        except X12Error:
            continue
        for ic in interchanges:
            validate_interchange(ic)
