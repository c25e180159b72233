"""Real X12 files written by other people (../shared/samples/x12, see SOURCES.md there) through our reader."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from dropship_x12 import (
    INBOUND_SETS,
    GroupError,
    Interchange,
    InterchangeError,
    SetError,
    build_997,
    build_997_document,
    parse_850,
    parse_855,
    parse_856,
    parse_997,
    read_interchange,
    read_interchanges,
    validate_interchange,
)

SAMPLES = Path(__file__).resolve().parents[3] / ".." / "shared" / "samples" / "x12"
WHEN = datetime(2024, 1, 2, 3, 4)


def sample(name: str) -> bytes:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"public X12 sample {name} not available at {SAMPLES.resolve()} (shared samples folder absent)")
    return path.read_bytes()


def only(name: str) -> Interchange:
    return read_interchange(sample(name))


def test_every_sample_is_read_without_crashing() -> None:
    if not SAMPLES.is_dir():
        pytest.skip(f"shared samples folder {SAMPLES.resolve()} absent")
    files = sorted(SAMPLES.glob("*.edi"))
    assert len(files) >= 6
    for path in files:
        for ic in read_interchanges(path.read_bytes()):
            validate_interchange(ic, INBOUND_SETS)


def test_850_ok_newline_terminated_six_lines() -> None:
    ic = only("850.OK.edi")
    assert ic.delimiters.segment == "\n" and ic.delimiters.component == ">"
    assert validate_interchange(ic).accepted
    [ts] = ic.groups[0].transactions
    po = parse_850(ts)
    assert po.po_number == "08292233294" and po.po_date == date(2010, 11, 27)
    assert len(po.lines) == 6
    first = po.lines[0]
    assert (first.line_no, first.quantity, first.unit_price) == (1, 120, Decimal("9.25"))
    assert (first.vendor_part_number, first.buyer_part_number, first.description) == (
        "AB3542",
        "065322-117",
        "SMALL WIDGET",
    )
    assert first.ship_to is not None and first.ship_to.city == "SOLON"  # header N1*ST applies to every line
    assert sum(line.quantity for line in po.lines) == 1310


def test_855_line_ack() -> None:
    ic = only("855.line-ack.edi")
    report = validate_interchange(ic, INBOUND_SETS)
    assert report.accepted, report.all_issues()
    ack = parse_855(ic.groups[0].transactions[0])
    assert ack.po_number == "POTEST1112" and ack.ack_type == "AD" and ack.ack_date == date(2020, 10, 15)
    assert [line.ack_code for line in ack.lines] == ["IA", "IR", "IR", "IA"]
    assert [line.status for line in ack.lines] == ["accepted", "rejected", "rejected", "accepted"]
    assert [line.quantity for line in ack.lines] == [3, 0, 0, 2]
    assert [line.ordered_quantity for line in ack.lines] == [3, 2, 1, 2]
    assert ack.lines[1].expected_ship_date == date(2007, 10, 9)  # from SCH06
    assert [line.reason for line in ack.lines] == ["AC", "CW", "KK", "AC"]
    assert ack.status == "partial"


def test_856_crossdock_two_orders() -> None:
    ic = only("856.Crossdock.OK.edi")
    report = validate_interchange(ic, INBOUND_SETS)
    assert report.accepted, report.all_issues()
    first, second = parse_856(ic.groups[0].transactions[0])
    assert (first.po_number, second.po_number) == ("POREF00", "POREF01")
    assert first.shipment_id == second.shipment_id == "000009"
    assert first.shipped_date == date(2009, 9, 21)
    assert first.carrier.scac == "OVNT" and first.carrier.name == "OVERNITE"
    assert first.tracking_number == "0000000008741"
    assert len(first.packages) == 4 and len(second.packages) == 1
    assert first.packages[0].carton_ids == ("00000715670002152360",)
    assert [item.part("UP") or item.part("EN") for item in first.items] == [
        "0000000000642",
        "0000000000831",
        "0000000000283",
        "0000000000203",
    ]
    assert all(item.quantity == 12 for item in first.items + second.items)


def test_control_numbers_mismatch_is_rejected_with_each_error() -> None:
    report = validate_interchange(only("ControlNumbersMismatch.edi"), INBOUND_SETS)
    assert not report.accepted
    assert report.ta1_codes == (InterchangeError.CONTROL_NUMBER_MISMATCH.value,)  # IEA02 3439 vs ISA13 3438
    [group] = report.groups
    assert group.ak9_codes == (GroupError.CONTROL_NUMBER_MISMATCH,)  # GE02 3315 vs GS06 3314
    assert SetError.CONTROL_NUMBER_MISMATCH in group.sets[0].ak5_codes  # SE02 0002 vs ST02 0001
    assert group.ak901 == "R"


def test_control_numbers_mismatch_997() -> None:
    ic = only("ControlNumbersMismatch.edi")
    report = validate_interchange(ic, None)  # even if 940 were supported
    ack = build_997(ic.groups[0], report.groups[0], 1)
    assert ack is not None
    received = parse_997(ack)
    assert received.status == "R" and received.error_codes == ("4",)
    assert received.sets[0].error_codes == ("3",)


def test_wrong_groups_and_tran_count() -> None:
    """IEA02 '3438' is unpadded: accepted as equal to ISA13 000003438 (numeric compare); the counts are not."""
    report = validate_interchange(only("WrongGroupsAndTranCount.edi"), None)
    assert report.ta1_codes == (InterchangeError.GROUP_COUNT_MISMATCH.value,)
    [group] = report.groups
    assert group.ak9_codes == (GroupError.SET_COUNT_MISMATCH,)
    assert group.declared_set_count == 2 and group.received == 1
    assert group.sets[0].accepted and group.ak901 == "R"


def test_multiple_interchanges_and_groups_940_not_supported() -> None:
    interchanges = read_interchanges(sample("MultipleInterchangesAndGroups.edi"))
    assert len(interchanges) == 2
    assert [len(ic.groups) for ic in interchanges] == [2, 2]
    assert [[len(g.transactions) for g in ic.groups] for ic in interchanges] == [[2, 1], [2, 1]]
    for ic in interchanges:
        report = validate_interchange(ic, INBOUND_SETS)
        assert report.envelope_ok  # unpadded IEA02 accepted
        text = build_997_document(
            ic,
            supported_sets=INBOUND_SETS,
            interchange_control_number=1,
            group_control_number=1,
            first_set_control_number=1,
            prepared_at=WHEN,
        )
        assert text is not None
        reply = read_interchange(text)
        acks = [parse_997(ts) for ts in reply.groups[0].transactions]
        assert [a.group_control_number for a in acks] == [g.control_number for g in ic.groups]
        for received in acks:
            assert received.status == "R" and received.accepted_count == 0
            assert all(s.code == "940" and s.error_codes == ("1",) for s in received.sets)
