"""Outbound 850: exact segments for a drop-ship batch, envelope, and read-back equality."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from dropship_x12 import (
    NEWLINE_DELIMITERS,
    Partners,
    PurchaseOrder850,
    PurchaseOrderLine850,
    Segment,
    ShipTo,
    X12ContentError,
    build_850,
    build_850_document,
    parse_850,
    read_interchange,
    validate_interchange,
)

PARTNERS = Partners("ZZ", "DROPSHIP", "ZZ", "ACMESUPPLY")


def batch_po() -> PurchaseOrder850:
    alice = ShipTo("Alice Martin", ("12 Rue Haute", "Apt 3"), "Lyon", "ARA", "69001", "FR", "+33 4 00 00 00")
    bob = ShipTo("Bob Smith", ("1 Main St",), "Springfield", "IL", "62701", "US")
    return PurchaseOrder850(
        po_number="DS-2024-0001",
        po_date=date(2024, 3, 5),
        currency="USD",
        buyer_id="DROPSHIP01",
        buyer_name="Dropship Co",
        lines=(
            PurchaseOrderLine850(1, 2, Decimal("9.50"), "SKU-RED", "AC-100", alice, "CUST-77", "Red mug"),
            PurchaseOrderLine850(2, 1, Decimal("120"), "SKU-LAMP", "AC-200", bob, "CUST-78"),
            PurchaseOrderLine850(3, 5, Decimal("0.99"), "SKU-PEN", "AC-300", bob, "CUST-78"),
        ),
    )


def test_segments_of_a_multi_customer_batch() -> None:
    ts = build_850(batch_po(), 12)
    assert (ts.code, ts.control_number) == ("850", "0012")
    assert ts.segments[:3] == [
        Segment.of("BEG", "00", "DS", "DS-2024-0001", None, "20240305"),
        Segment.of("CUR", "BY", "USD"),
        Segment.of("N1", "BY", "Dropship Co", "92", "DROPSHIP01"),
    ]
    first_loop = ts.segments[3:10]
    assert first_loop == [
        Segment.of("PO1", "1", "2", "EA", "9.5", None, "BP", "SKU-RED", "VP", "AC-100"),
        Segment.of("PID", "F", None, None, None, "Red mug"),
        Segment.of("REF", "CO", "CUST-77"),
        Segment.of("N1", "ST", "Alice Martin"),
        Segment.of("N3", "12 Rue Haute", "Apt 3"),
        Segment.of("N4", "Lyon", "ARA", "69001", "FR"),
        Segment.of("PER", "IC", None, "TE", "+33 4 00 00 00"),
    ]
    assert [s.id for s in ts.segments].count("N1") == 4  # buyer + one ship-to per line
    assert ts.segments[-1] == Segment.of("CTT", "3", "8")
    assert ts.segment_count == len(ts.segments) + 2


def test_document_reads_back_valid_and_equal() -> None:
    text = build_850_document(
        batch_po(),
        partners=PARTNERS,
        interchange_control_number=101,
        group_control_number=202,
        set_control_number=303,
        prepared_at=datetime(2024, 3, 5, 10, 30),
    )
    ic = read_interchange(text)
    assert ic.control_number == "000000101"
    [group] = ic.groups
    assert (group.functional_id, group.control_number) == ("PO", "202")
    assert group.transactions[0].control_number == "0303"
    report = validate_interchange(ic, {"850"})
    assert report.accepted, report.all_issues()
    assert parse_850(group.transactions[0]) == batch_po()


def test_newline_delimited_document() -> None:
    text = build_850_document(
        batch_po(),
        partners=PARTNERS,
        interchange_control_number=1,
        group_control_number=1,
        set_control_number=1,
        prepared_at=datetime(2024, 3, 5),
        delimiters=NEWLINE_DELIMITERS,
    )
    assert text.splitlines()[2] == "ST*850*0001~"
    assert validate_interchange(read_interchange(text)).accepted


def test_free_text_with_delimiters_is_cleaned() -> None:
    po = batch_po()
    dirty = ShipTo("O*Brien ~ Co", ("Line>1\nnext",), "City", "ST", "1", "US")
    line = PurchaseOrderLine850(1, 1, Decimal(1), "A*B", "C", dirty, description="x~y")
    ts = build_850(PurchaseOrder850(po.po_number, po.po_date, "USD", "", "", (line,)), 1)
    assert Segment.of("N1", "ST", "O Brien Co") in ts.segments
    assert Segment.of("N3", "Line 1 next") in ts.segments
    assert ts.segments[1] == Segment.of("CUR", "BY", "USD")
    assert ts.segments[2].id == "PO1"  # no N1*BY without a buyer


def test_line_without_ship_to_or_optional_parts() -> None:
    line = PurchaseOrderLine850(7, 3, Decimal("2.25"), "SKU", "VSKU")
    po = PurchaseOrder850("PO9", date(2024, 1, 1), "EUR", "B", "Buyer", (line,))
    ts = build_850(po, 1)
    assert [s.id for s in ts.segments] == ["BEG", "CUR", "N1", "PO1", "CTT"]
    assert parse_850(ts) == po


def test_invalid_orders_are_refused() -> None:
    po = batch_po()
    with pytest.raises(X12ContentError):
        build_850(PurchaseOrder850(po.po_number, po.po_date, "USD", "", "", ()), 1)
    three_lines = ShipTo("N", ("a", "b", "c"), "c", "r", "p", "US")
    with pytest.raises(X12ContentError, match="address lines"):
        build_850(
            PurchaseOrder850(
                "P", po.po_date, "USD", "", "", (PurchaseOrderLine850(1, 1, Decimal(1), "a", "b", three_lines),)
            ),
            1,
        )


def test_parse_850_rejects_bad_content() -> None:
    ts = build_850(batch_po(), 1)
    ts.segments[3] = Segment.of("PO1", "one", "2", "EA")
    with pytest.raises(X12ContentError, match="PO101"):
        parse_850(ts)
    ts.segments[3] = Segment.of("PO1", "1", "2.5", "EA")
    with pytest.raises(X12ContentError, match="whole number"):
        parse_850(ts)
    ts.segments.pop(0)
    with pytest.raises(X12ContentError, match="BEG"):
        parse_850(ts)
