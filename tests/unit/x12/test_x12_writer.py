"""X12 writer: fixed-width ISA, computed SE/GE/IEA, delimiter safety."""

from __future__ import annotations

from datetime import datetime

import pytest

from dropship_x12 import (
    Delimiters,
    Partners,
    Segment,
    TransactionSet,
    X12WriteError,
    envelope,
    read_interchange,
    serialize_interchange,
    serialize_interchanges,
    serialize_segment,
    validate_interchange,
)

PARTNERS = Partners("ZZ", "DROPSHIP", "01", "123456789", application_sender_id="DS-APP")
WHEN = datetime(2024, 3, 5, 7, 9)


def sets() -> list[TransactionSet]:
    return [
        TransactionSet("850", "0001", [Segment.of("BEG", "00", "DS", "PO-1", None, "20240305")]),
        TransactionSet(
            "850", "0002", [Segment.of("BEG", "00", "DS", "PO-2", None, "20240305"), Segment.of("CUR", "BY", "USD")]
        ),
    ]


def build(delimiters: Delimiters = Delimiters()) -> str:
    ic = envelope(
        sets(),
        partners=PARTNERS,
        functional_id="PO",
        interchange_control_number=17,
        group_control_number=23,
        prepared_at=WHEN,
        delimiters=delimiters,
    )
    return serialize_interchange(ic)


def test_isa_is_fixed_width_and_padded() -> None:
    text = build()
    isa = text[:106]
    assert isa == (
        "ISA*00*          *00*          *ZZ*DROPSHIP       *01*123456789      *240305*0709*U*00401*000000017*0*P*>~"
    )
    assert len(isa) == 106


def test_counts_and_control_numbers_are_computed() -> None:
    text = build()
    assert "GS*PO*DS-APP*123456789*20240305*0709*23*X*004010~" in text
    assert "ST*850*0001~BEG*00*DS*PO-1**20240305~SE*3*0001~" in text
    assert "SE*4*0002~" in text
    assert text.endswith("GE*2*23~IEA*1*000000017~")
    assert validate_interchange(read_interchange(text)).accepted


def test_stale_trailers_in_the_structure_are_ignored() -> None:
    ic = read_interchange(build())
    ic.groups[0].transactions[0].segments.append(Segment.of("CUR", "BY", "EUR"))
    ic.groups[0].transactions.pop()
    text = serialize_interchange(ic)
    assert "SE*4*0001~" in text and "GE*1*23~" in text
    assert validate_interchange(read_interchange(text)).accepted


def test_custom_delimiters_with_newlines_round_trip() -> None:
    delimiters = Delimiters(element="|", component="^", segment="'", suffix="\r\n")
    text = build(delimiters)
    assert text.splitlines()[1].startswith("GS|PO|")
    ic = read_interchange(text)
    assert (ic.delimiters.element, ic.delimiters.component, ic.delimiters.segment) == ("|", "^", "'")
    assert validate_interchange(ic).accepted
    assert serialize_interchange(ic, delimiters) == text


def test_repetition_separator_written_only_for_00402_and_later() -> None:
    ic = envelope(
        sets(),
        partners=PARTNERS,
        functional_id="PO",
        interchange_control_number=1,
        group_control_number=1,
        prepared_at=WHEN,
        delimiters=Delimiters(repetition="^"),
    )
    assert serialize_interchange(ic)[82] == "U"
    ic.version = "00501"
    text = serialize_interchange(ic)
    assert text[82] == "^"
    assert read_interchange(text).delimiters.repetition == "^"


def test_two_interchanges_serialise_back_to_back() -> None:
    one, two = read_interchange(build()), read_interchange(build())
    two.control_number = "000000018"
    text = serialize_interchanges([one, two])
    assert text.count("ISA*") == 2 and text.count("IEA*1*000000018~") == 1


@pytest.mark.parametrize(
    "segment",
    [
        Segment("N1", ("ST", "A*B")),
        Segment("N1", ("ST", "A~B")),
        Segment("N1", ("ST", "A>B")),
        Segment("N1", ("ST", "A\nB")),
        Segment("n1", ("ST",)),
        Segment("", ()),
    ],
)
def test_unsafe_segments_are_refused(segment: Segment) -> None:
    with pytest.raises(X12WriteError):
        serialize_segment(segment)


def test_too_long_isa_value_is_refused() -> None:
    partners = Partners("ZZ", "X" * 16, "ZZ", "Y")
    ic = envelope(
        sets(),
        partners=partners,
        functional_id="PO",
        interchange_control_number=1,
        group_control_number=1,
        prepared_at=WHEN,
    )
    with pytest.raises(X12WriteError, match="ISA06"):
        serialize_interchange(ic)


@pytest.mark.parametrize("number", [0, -1, 1_000_000_000, "12a", ""])
def test_control_numbers_must_be_1_to_999999999(number: int | str) -> None:
    with pytest.raises(X12WriteError):
        envelope(
            sets(),
            partners=PARTNERS,
            functional_id="PO",
            interchange_control_number=number,
            group_control_number=1,
            prepared_at=WHEN,
        )


@pytest.mark.parametrize("bad", [dict(element="**"), dict(element="*", segment="*"), dict(component="A")])
def test_bad_delimiter_sets_are_refused(bad: dict[str, str]) -> None:
    with pytest.raises(X12WriteError):
        Delimiters(**bad)  # type: ignore[arg-type]


def test_segment_of_formats_numbers_and_trims_trailing_empties() -> None:
    from decimal import Decimal

    segment = Segment.of("PO1", 1, Decimal("10.500"), "EA", Decimal("1E+2"), None, None)
    assert segment.elements == ("1", "10.5", "EA", "100")


def test_partners_reply_swaps_sides() -> None:
    reply = PARTNERS.reply()
    assert (reply.sender_qualifier, reply.sender_id, reply.receiver_id) == ("01", "123456789", "DROPSHIP")
    assert reply.application_receiver_id == "DS-APP"
