"""855 acknowledgement: status mapping (line and header), build/parse round trip, SCH vs ACK05 dates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from dropship_x12 import (
    AckLine,
    PurchaseOrderAcknowledgement,
    Segment,
    TransactionSet,
    X12ContentError,
    build_855,
    line_status,
    parse_855,
)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("IA", "accepted"),
        ("IQ", "accepted"),
        ("IC", "accepted"),
        ("AC", "accepted"),
        ("IB", "backordered"),
        ("BP", "backordered"),
        ("IH", "backordered"),
        ("IR", "rejected"),
        ("ID", "rejected"),
        ("R2", "rejected"),
        ("??", "backordered"),
    ],
)
def test_line_status_mapping(code: str, status: str) -> None:
    assert line_status(code) == status


def ack(ack_type: str, *codes_and_qty: tuple[str, int, int]) -> PurchaseOrderAcknowledgement:
    lines = tuple(
        AckLine(i, code, Decimal(qty), Decimal(ordered))
        for i, (code, qty, ordered) in enumerate(codes_and_qty, start=1)
    )
    return PurchaseOrderAcknowledgement("PO-1", ack_type, date(2024, 3, 6), lines)


@pytest.mark.parametrize(
    ("acknowledgement", "status"),
    [
        (ack("AD", ("IA", 2, 2), ("IA", 1, 1)), "accepted"),
        (ack("AD", ("IA", 2, 2), ("IR", 0, 1)), "partial"),
        (ack("AC", ("IA", 2, 2), ("IB", 1, 1)), "partial"),
        (ack("AC", ("IQ", 1, 2)), "partial"),
        (ack("AD", ("IR", 0, 2), ("IR", 0, 1)), "rejected"),
        (ack("RJ", ("IA", 2, 2)), "rejected"),
        (ack("RJ"), "rejected"),
        (ack("AK"), "accepted"),
        (ack("AT"), "accepted"),
        (ack("AE"), "partial"),
    ],
)
def test_header_status(acknowledgement: PurchaseOrderAcknowledgement, status: str) -> None:
    assert acknowledgement.status == status


def test_build_parse_round_trip_with_split_line_dates_and_reasons() -> None:
    original = PurchaseOrderAcknowledgement(
        po_number="DS-2024-0001",
        ack_type="AC",
        ack_date=date(2024, 3, 6),
        lines=(
            AckLine(1, "IA", Decimal(2), Decimal(2), date(2024, 3, 8)),
            AckLine(2, "IA", Decimal(3), Decimal(5), date(2024, 3, 8)),
            AckLine(2, "IB", Decimal(2), Decimal(5), date(2024, 4, 1), "OOS"),
            AckLine(3, "IR", Decimal(0), Decimal(1), None, "DISCONTINUED"),
        ),
    )
    ts = build_855(original, 4)
    assert ts.segments[0] == Segment.of("BAK", "00", "AC", "DS-2024-0001", "20240306")
    assert [s.id for s in ts.segments] == ["BAK", "PO1", "ACK", "PO1", "ACK", "ACK", "PO1", "ACK", "CTT"]
    assert ts.segments[2] == Segment.of("ACK", "IA", "2", "EA", "068", "20240308")
    assert ts.segments[-1] == Segment.of("CTT", "3", "8")
    parsed = parse_855(ts)
    assert parsed == original
    assert parsed.status == "partial"
    assert [line.status for line in parsed.lines] == ["accepted", "accepted", "backordered", "rejected"]


def test_sch_date_used_when_ack_has_none_and_po1_without_ack_follows_header() -> None:
    ts = TransactionSet(
        "855",
        "0001",
        [
            Segment.of("BAK", "00", "AD", "PO-9", "20240306"),
            Segment.of("PO1", "1", "4", "EA"),
            Segment.of("ACK", "IA", "4", "EA"),
            Segment.of("SCH", "4", "EA", None, None, "002", "20240310"),
            Segment.of("PO1", "2", "1", "EA"),
            Segment.of("CTT", "2"),
        ],
    )
    first, second = parse_855(ts).lines
    assert first.expected_ship_date == date(2024, 3, 10)
    assert (second.ack_code, second.quantity, second.status) == ("IA", Decimal(1), "accepted")


def test_parse_errors_are_x12_content_errors() -> None:
    with pytest.raises(X12ContentError, match="BAK"):
        parse_855(TransactionSet("855", "0001", [Segment.of("PO1", "1")]))
    with pytest.raises(X12ContentError, match="expected an 855"):
        parse_855(TransactionSet("856", "0001", []))
    bad_date = [Segment.of("BAK", "00", "AD", "PO", "2024-03-06")]
    with pytest.raises(X12ContentError, match="BAK04"):
        parse_855(TransactionSet("855", "0001", bad_date))
    bad_qty = [
        Segment.of("BAK", "00", "AD", "PO", "20240306"),
        Segment.of("PO1", "1", "1"),
        Segment.of("ACK", "IA", "x"),
    ]
    with pytest.raises(X12ContentError, match="ACK02"):
        parse_855(TransactionSet("855", "0001", bad_qty))


def test_an_855_keeps_the_suppliers_notes_of_the_header_and_of_each_line() -> None:
    ts = TransactionSet(
        "855",
        "0001",
        [
            Segment.of("BAK", "00", "RJ", "PO-9", "20240306"),
            Segment.of("N9", "L1", "NOTES"),
            Segment.of("MSG", "Account on credit hold"),
            Segment.of("PO1", "1", "4", "EA"),
            Segment.of("NTE", "LIN", "Discontinued by the maker"),
            Segment.of("PO1", "2", "1", "EA"),
            Segment.of("CTT", "2"),
        ],
    )
    parsed = parse_855(ts)
    assert parsed.notes == ("Account on credit hold",)  # the N9 only labels the MSG
    assert [(line.status, line.words) for line in parsed.lines] == [
        ("rejected", "Discontinued by the maker"),
        ("rejected", None),
    ]
    header_only = parse_855(TransactionSet("855", "0002", [ts.segments[0], ts.segments[2], Segment.of("CTT", "0")]))
    assert (header_only.status, header_only.lines, header_only.notes) == ("rejected", (), ("Account on credit hold",))
