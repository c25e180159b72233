"""X12 as other people write it (issue 8): each case once crashed or was misread; now read or refused precisely."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pytest

from dropship_x12 import (
    GroupError,
    InterchangeError,
    SetError,
    X12ContentError,
    X12SyntaxError,
    acknowledgement_report,
    build_997_document,
    parse_855,
    parse_997,
    read_interchange,
    read_interchanges,
    validate_interchange,
)
from dropship_x12.ta1 import parse_ta1

ISA = "ISA*00*          *00*          *ZZ*SUPPLIER       *ZZ*BUYER          *261127*1200*U*00401*000000042*0*P*>~"
GROUP = (
    "GS*PR*SUPPLIER*BUYER*20261127*1200*7*X*004010~ST*855*0001~BAK*00*AD*PO-1*20261127~"
    "PO1*1*2*EA~ACK*IA*2*EA~CTT*1~SE*6*0001~GE*1*7~"
)
DOC = ISA + GROUP + "IEA*1*000000042~"
SETS = frozenset({"855", "856", "997"})


def answer(document: str) -> str:
    interchange = read_interchange(document)
    reply = build_997_document(
        interchange,
        supported_sets=SETS,
        interchange_control_number=5,
        group_control_number=5,
        first_set_control_number=1,
        prepared_at=datetime(2026, 11, 27, tzinfo=UTC),
        report=acknowledgement_report(interchange, SETS),
    )
    assert reply is not None
    return reply


@pytest.mark.parametrize(
    ("document", "what"),
    [
        (DOC.replace("SE*6*0001", "SE*²*0001"), "SE01"),
        (DOC.replace("GE*1*7", "GE*¹*7"), "GE01"),
        (DOC.replace("IEA*1*", "IEA*\u0661*"), "IEA01"),
        (DOC.replace("*000000042*0*P", "*00000004²*0*P"), "ISA13"),
    ],
)
def test_non_ascii_digits_in_counts_and_control_numbers_are_refused_not_a_crash(document: str, what: str) -> None:
    interchange = read_interchange(document)
    report = acknowledgement_report(interchange, SETS)
    assert not report.accepted, what
    ack = parse_997(read_interchange(answer(document)).groups[0].transactions[0])
    assert ack.status == "R"


def test_a_997_with_a_non_ascii_digit_in_ak9_is_a_content_error() -> None:
    document = answer(DOC).replace("AK9*A*1*1*1", "AK9*A*1*1*¹")
    with pytest.raises(X12ContentError, match="AK904"):
        parse_997(read_interchange(document).groups[0].transactions[0])


def test_values_holding_our_delimiters_are_echoed_with_other_delimiters() -> None:
    # a partner with other delimiters ('|', '!') may use '*' and '~' in its ids and control numbers
    theirs = DOC.replace("*", "|").replace("~", "!")
    theirs = theirs.replace("ST|855|0001", "ST|855|00*~1").replace("SE|6|0001", "SE|6|00*~1")
    theirs = theirs.replace("GS|PR|SUPPLIER|BUYER", "GS|PR|SUP*PLIER|BUY~ER")
    reply = answer(theirs)
    assert reply[3] not in "*~" and reply[105] not in "*~"
    ack = parse_997(read_interchange(reply).groups[0].transactions[0])
    assert ack.status == "A" and ack.sets[0].control_number == "00*~1"


def test_line_breaks_inside_echoed_values_never_break_the_answer() -> None:
    document = ISA.replace("~", "!") + GROUP.replace("~", "!").replace("ST*855*0001", "ST*855*00\x0b1")
    document = document.replace("SE*6*0001", "SE*6*00\x0b1") + "IEA*1*000000042!"
    ack = parse_997(read_interchange(answer(document)).groups[0].transactions[0])
    assert ack.status == "R" and ack.sets[0].error_codes == ("7",)


def test_an_interchange_without_a_functional_group_is_refused_with_a_ta1() -> None:
    cut_short = ISA + "IEA*0*000000042~"
    report = validate_interchange(read_interchange(cut_short), SETS)
    assert not report.accepted and report.ta1_codes == (InterchangeError.INVALID_CONTENT.value,)
    assert "no functional group" in report.all_issues()[0].message
    reply = read_interchange(answer(cut_short))
    assert reply.groups == []
    ta1 = parse_ta1(reply.acknowledgements[0])
    assert (ta1.control_number, ta1.status, ta1.note_code) == ("000000042", "R", "024")


def test_a_ta1_is_sent_when_asked_for_and_read_back() -> None:
    asked = DOC.replace("*000000042*0*P", "*000000042*1*P")
    reply = read_interchange(answer(asked))
    assert parse_ta1(reply.acknowledgements[0]).accepted
    assert parse_997(reply.groups[0].transactions[0]).accepted
    assert validate_interchange(reply).accepted


def test_two_groups_with_the_same_gs06_are_flagged() -> None:
    twice = ISA + GROUP + GROUP.replace("ST*855*0001", "ST*855*0002").replace("SE*6*0001", "SE*6*0002")
    report = validate_interchange(read_interchange(twice + "IEA*2*000000042~"), SETS)
    assert report.groups[0].accepted
    assert report.groups[1].ak9_codes == (GroupError.CONTROL_NUMBER_NOT_UNIQUE,)
    assert "GS06 repeated" in report.groups[1].errors[0].message


def test_ebcdic_input_is_refused_saying_ebcdic() -> None:
    with pytest.raises(X12SyntaxError, match="EBCDIC"):
        read_interchanges(DOC.encode("cp037"))


def test_a_file_hard_wrapped_at_80_columns_is_read() -> None:
    wrapped = "\r\n".join(textwrap.wrap(DOC, 80, drop_whitespace=False, break_on_hyphens=False)) + "\r\n"
    assert "\n" in wrapped[:106]  # the ISA itself is cut
    interchange = read_interchange(wrapped)
    assert validate_interchange(interchange, SETS).accepted
    assert interchange.groups[0].transactions[0].segments == read_interchange(DOC).groups[0].transactions[0].segments


def test_newline_terminated_files_keep_their_structure() -> None:
    newline = DOC.replace("~", "\n")
    assert validate_interchange(read_interchange(newline), SETS).accepted


def test_an_empty_po101_is_read_the_line_is_known_by_its_part_numbers() -> None:
    document = DOC.replace("PO1*1*2*EA", "PO1**2*EA***VP*V-9")
    (line,) = parse_855(read_interchange(document).groups[0].transactions[0]).lines
    assert (line.line_no, line.part("VP"), line.status) == (None, "V-9", "accepted")


def test_a_po101_with_foreign_digits_is_a_content_error() -> None:
    with pytest.raises(X12ContentError, match="PO101"):
        parse_855(read_interchange(DOC.replace("PO1*1*2", "PO1*\u0661*2")).groups[0].transactions[0])


@pytest.mark.parametrize("quantity", ["1E+999999", "1234567890123456", "1.2.3", "0x10", "."])
def test_numbers_are_x12_decimals_of_at_most_15_digits(quantity: str) -> None:
    with pytest.raises(X12ContentError, match="ACK02"):
        parse_855(read_interchange(DOC.replace("ACK*IA*2*EA", f"ACK*IA*{quantity}*EA")).groups[0].transactions[0])


def test_an_st02_with_control_characters_is_rejected() -> None:
    document = DOC.replace("ST*855*0001", "ST*855*00\x001").replace("SE*6*0001", "SE*6*00\x001")
    report = validate_interchange(read_interchange(document), SETS)
    assert SetError.INVALID_CONTROL_NUMBER in report.groups[0].sets[0].ak5_codes
    assert parse_997(read_interchange(answer(document)).groups[0].transactions[0]).status == "R"
