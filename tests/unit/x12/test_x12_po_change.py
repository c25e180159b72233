"""860 (our cancellation of lines) and 865 (the supplier's answer): written, read back, read as others write them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dropship_x12 import (
    LineCancellation,
    LineChangeAnswer,
    Partners,
    PurchaseOrderChange,
    PurchaseOrderChangeAcknowledgement,
    X12ContentError,
    build_860,
    build_865,
    change_answer,
    envelope,
    parse_860,
    parse_865,
    read_interchange,
    serialize_interchange,
    validate_interchange,
)

CHANGE = PurchaseOrderChange(
    po_number="PO-7",
    po_date=date(2026, 11, 20),
    change_date=date(2026, 11, 27),
    lines=(
        LineCancellation(1, cancelled=2, remaining=0, buyer_part_number="SKU-1", vendor_part_number="V-1"),
        LineCancellation(3, cancelled=1, remaining=4, buyer_part_number="SKU-3", vendor_part_number="V-3"),
    ),
    request_reference="17",
)


def through_the_wire(transaction_code: str, transaction: object) -> object:
    text = serialize_interchange(
        envelope(
            [transaction],  # type: ignore[list-item]
            partners=Partners("ZZ", "BUYER", "ZZ", "SUPPLIER"),
            functional_id="PC" if transaction_code == "860" else "CA",
            interchange_control_number=9,
            group_control_number=9,
            prepared_at=datetime(2026, 11, 27, tzinfo=UTC),
        )
    )
    interchange = read_interchange(text)
    assert validate_interchange(interchange, {transaction_code}).accepted
    return interchange.groups[0].transactions[0]


def test_an_860_deletes_whole_lines_and_decreases_the_others() -> None:
    transaction = build_860(CHANGE, 1)
    pocs = [s for s in transaction.segments if s.id == "POC"]
    assert [s.elements[:5] for s in pocs] == [("1", "DI", "0", "2", "EA"), ("3", "QD", "4", "1", "EA")]
    assert parse_860(through_the_wire("860", transaction)) == CHANGE  # type: ignore[arg-type]


def test_an_860_needs_a_line() -> None:
    with pytest.raises(X12ContentError, match="at least one line"):
        build_860(PurchaseOrderChange("PO-7", date(2026, 11, 20), date(2026, 11, 27), ()), 1)


def test_an_865_round_trip_keeps_each_line_answer_and_reason() -> None:
    ack = PurchaseOrderChangeAcknowledgement(
        po_number="PO-7",
        ack_type="AC",
        ack_date=date(2026, 11, 27),
        lines=(
            LineChangeAnswer(1, "accepted", "IA"),
            LineChangeAnswer(3, "refused", "IR", "already shipped"),
        ),
    )
    read = parse_865(through_the_wire("865", build_865(ack, 1)))  # type: ignore[arg-type]
    assert read == ack
    assert (read.answer_for(1), read.answer_for(3), read.answer_for(9)) == ("accepted", "refused", "unknown")


@pytest.mark.parametrize(
    ("bca02", "line", "expected"),
    [
        ("AT", "POC*1*DI~", "accepted"),  # whole change accepted, lines without ACK
        ("RJ", "POC*1*DI~", "refused"),
        ("AC", "POC*1*DI~ACK*ID*2*EA~", "accepted"),  # item deleted
        ("AC", "POC*1*DI~ACK*AC*2*EA~", "refused"),  # accepted and shipped: too late to cancel
        ("AC", "POC*1*DI~ACK*IB*2*EA~", "unknown"),  # backordered says nothing about the cancel
        ("AC", "POC*1*DI~", "unknown"),
    ],
)
def test_865s_as_suppliers_write_them(bca02: str, line: str, expected: str) -> None:
    body = f"BCA*06*{bca02}*PO-7**1*20261120~{line}CTT*1~"
    count = body.count("~") + 2
    text = (
        "ISA*00*          *00*          *ZZ*SUPPLIER       *ZZ*BUYER          *261127*1200*U*00401*000000009*0*P*>~"
        f"GS*CA*SUPPLIER*BUYER*20261127*1200*9*X*004010~ST*865*0001~{body}SE*{count}*0001~GE*1*9~IEA*1*000000009~"
    )
    read = parse_865(read_interchange(text).groups[0].transactions[0])
    assert read.po_number == "PO-7" and read.answer_for(1) == expected


def test_unknown_ack_codes_are_never_taken_for_an_answer() -> None:
    assert [change_answer(code) for code in ("IA", "IR", "ZZ", "")] == ["accepted", "refused", "unknown", "unknown"]


def test_an_865_refusal_keeps_the_suppliers_own_words_from_ack_notes_or_header() -> None:
    body = (
        "BCA*06*AC*PO-7**1*20261120~MSG*Warehouse closed for inventory~"
        "POC*1*DI~ACK*IR*2*EA~NTE*GEN*Picked and packed, leaves today~"
        "POC*2*DI~ACK*IR*1*EA~"
        "POC*3*DI~N9*L1*Already on the truck~ACK*R2*1*EA~CTT*3~"
    )
    count = body.count("~") + 2
    text = (
        "ISA*00*          *00*          *ZZ*SUPPLIER       *ZZ*BUYER          *261127*1200*U*00401*000000009*0*P*>~"
        f"GS*CA*SUPPLIER*BUYER*20261127*1200*9*X*004010~ST*865*0001~{body}SE*{count}*0001~GE*1*9~IEA*1*000000009~"
    )
    read = parse_865(read_interchange(text).groups[0].transactions[0])
    assert read.notes == ("Warehouse closed for inventory",)
    assert [read.words_for(n) for n in (1, 2, 3, 9)] == [
        "Picked and packed, leaves today",
        "Warehouse closed for inventory",
        "Already on the truck",
        "Warehouse closed for inventory",
    ]
    assert [line.answer for line in read.lines] == ["refused", "refused", "refused"]
