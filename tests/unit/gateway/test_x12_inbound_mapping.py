"""X12 855/856 content in the PO's terms: several ACKs of a line combined, lines found without PO101/LIN01."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from test_po_state_machine import requested  # the PO of the state-machine tests: lines 1.. with SKU-n / A-n

from dropship_x12.ack855 import AckLine, PurchaseOrderAcknowledgement, build_855, parse_855
from dropship_x12.reader import read_interchange
from supplier_gateway.adapters.x12_inbound import acknowledgement_of
from supplier_gateway.domain.purchase_order import PurchaseOrder, UnknownLine
from supplier_gateway.domain.supplier_messages import AcknowledgedLineStatus, AcknowledgementStatus


def purchase_order() -> PurchaseOrder:
    return requested(8, 8, 8)


def test_an_855_line_with_several_acks_becomes_one_line_status() -> None:
    ack = PurchaseOrderAcknowledgement(
        po_number="PO-1",
        ack_type="AC",
        ack_date=date(2026, 11, 27),
        lines=(
            AckLine(1, "IA", Decimal(5), Decimal(8)),
            AckLine(1, "IB", Decimal(3), Decimal(8), date(2026, 12, 24)),
            AckLine(2, "IR", Decimal(4), Decimal(4), reason="discontinued"),
            AckLine(3, "IA", Decimal(1), Decimal(1)),
        ),
    )
    read = acknowledgement_of(parse_855(build_855(ack, 1)), purchase_order())
    assert read.status is AcknowledgementStatus.PARTIAL
    assert [(line.line_no, line.status, line.quantity, line.expected_ship_date) for line in read.lines] == [
        (1, AcknowledgedLineStatus.BACKORDERED, 8, date(2026, 12, 24)),
        (2, AcknowledgedLineStatus.REJECTED, 4, None),
        (3, AcknowledgedLineStatus.ACCEPTED, 1, None),
    ]
    assert read.lines[1].reason == "discontinued"


EMPTY_PO101 = (
    "ISA*00*          *00*          *ZZ*SUPPLIER       *ZZ*BUYER          *261127*1200*U*00401*000000001*0*P*>~"
    "GS*PR*SUPPLIER*BUYER*20261127*1200*1*X*004010~ST*855*0001~BAK*00*AC*PO-1*20261127~"
    "PO1**8*EA***VP*A-2~ACK*IA*8*EA~"
    "PO1**8*EA***BP*SKU-1~ACK*IR*8*EA~"
    "CTT*2~SE*8*0001~GE*1*1~IEA*1*000000001~"
)


def test_an_855_without_po101_is_matched_to_our_lines_by_part_number() -> None:
    transaction = read_interchange(EMPTY_PO101).groups[0].transactions[0]
    parsed = parse_855(transaction)
    assert [line.line_no for line in parsed.lines] == [None, None]
    read = acknowledgement_of(parsed, purchase_order())
    assert [(line.line_no, line.status) for line in read.lines] == [
        (2, AcknowledgedLineStatus.ACCEPTED),
        (1, AcknowledgedLineStatus.REJECTED),
    ]


def test_an_855_line_matching_no_line_of_ours_is_an_unknown_line() -> None:
    transaction = read_interchange(EMPTY_PO101.replace("VP*A-2", "VP*NOT-OURS")).groups[0].transactions[0]
    with pytest.raises(UnknownLine, match="NOT-OURS"):
        acknowledgement_of(parse_855(transaction), purchase_order())
