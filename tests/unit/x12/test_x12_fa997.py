"""997: built from validation reports with AK5/AK9 codes, never for a 997 group, and parsed when received."""

from __future__ import annotations

from datetime import datetime

from dropship_x12 import (
    INBOUND_SETS,
    Segment,
    TransactionSet,
    build_997,
    build_997_document,
    parse_997,
    read_interchange,
    should_acknowledge,
    validate_group,
    validate_interchange,
)

ISA = "ISA*00*          *00*          *ZZ*SUPPLIER       *ZZ*DROPSHIP       *240102*0304*U*00401*000000042*0*P*>~"
GS = "GS*SH*SUPAPP*DSAPP*20240102*0304*77*X*004010~"
ASN_OK = "ST*856*0001~BSN*00*S1*20240102*1200~SE*3*0001~"
ASN_BAD = "ST*856*0002~BSN*00*S2*20240102*1200~SE*9*0002~"
WHEN = datetime(2024, 1, 2, 5, 6)


def inbound(body: str, ge: str = "GE*2*77~", gs: str = GS) -> str:
    return ISA + gs + body + ge + "IEA*1*000000042~"


def test_partial_acceptance() -> None:
    ic = read_interchange(inbound(ASN_OK + ASN_BAD))
    group = ic.groups[0]
    ack = build_997(group, validate_group(group, INBOUND_SETS), 5)
    assert ack is not None and (ack.code, ack.control_number) == ("997", "0005")
    assert ack.segments == [
        Segment.of("AK1", "SH", "77"),
        Segment.of("AK2", "856", "0001"),
        Segment.of("AK5", "A"),
        Segment.of("AK2", "856", "0002"),
        Segment.of("AK5", "R", "4"),
        Segment.of("AK9", "P", "2", "2", "1"),
    ]


def test_only_rejected_sets_listed_when_asked() -> None:
    group = read_interchange(inbound(ASN_OK + ASN_BAD)).groups[0]
    ack = build_997(group, validate_group(group, INBOUND_SETS), 1, include_accepted_sets=False)
    assert ack is not None
    assert [s.id for s in ack.segments] == ["AK1", "AK2", "AK5", "AK9"]


def test_group_errors_and_ak3_for_bad_segment() -> None:
    body = ASN_OK + ASN_BAD.replace("SE*9", "SE*3").replace("BSN*", "BXN*").replace("BXN", "B$N")
    group = read_interchange(inbound(body, ge="GE*5*78~")).groups[0]
    ack = build_997(group, validate_group(group, INBOUND_SETS), 1)
    assert ack is not None
    assert Segment.of("AK5", "R", "5") in ack.segments
    assert ack.segments[-1] == Segment.of("AK9", "R", "5", "2", "1", "4", "5")
    body = ASN_OK + ASN_BAD.replace("SE*9", "SE*3").replace("BSN*", "9SN*")
    group = read_interchange(inbound(body)).groups[0]
    ack = build_997(group, validate_group(group, INBOUND_SETS), 1)
    assert ack is not None
    assert ack.segments[3:6] == [
        Segment.of("AK2", "856", "0002"),
        Segment.of("AK3", "9SN", "2", None, "1"),
        Segment.of("AK5", "R", "5"),
    ]
    body = ASN_OK + ASN_BAD.replace("SE*9", "SE*3").replace("BSN*", "Q1*")
    group = read_interchange(inbound(body)).groups[0]
    report = validate_group(group, INBOUND_SETS)
    assert report.accepted  # Q1 is a syntactically valid id


def test_missing_ge_uses_received_count_for_ak902() -> None:
    group = read_interchange(inbound(ASN_OK, ge="")).groups[0]
    ack = build_997(group, validate_group(group, INBOUND_SETS), 1)
    assert ack is not None and ack.segments[-1] == Segment.of("AK9", "R", "1", "1", "1", "3")


def test_never_acknowledge_a_997() -> None:
    fa_group = "GS*FA*SUPAPP*DSAPP*20240102*0304*77*X*004010~"
    text = inbound("ST*997*0001~AK1*PO*5~AK9*A*1*1*1~SE*4*0001~", ge="GE*1*77~", gs=fa_group)
    ic = read_interchange(text)
    assert not should_acknowledge(ic.groups[0])
    assert build_997(ic.groups[0], validate_group(ic.groups[0], INBOUND_SETS), 1) is None
    args = dict(interchange_control_number=1, group_control_number=1, first_set_control_number=1, prepared_at=WHEN)
    assert build_997_document(ic, supported_sets=INBOUND_SETS, **args) is None  # type: ignore[arg-type]


def test_997_document_goes_back_to_the_sender_and_reads_back() -> None:
    ic = read_interchange(inbound(ASN_OK + ASN_BAD))
    text = build_997_document(
        ic,
        supported_sets=INBOUND_SETS,
        interchange_control_number=900,
        group_control_number=901,
        first_set_control_number=1,
        prepared_at=WHEN,
    )
    assert text is not None
    reply = read_interchange(text)
    assert (reply.sender_id, reply.receiver_id) == ("DROPSHIP", "SUPPLIER")
    assert (reply.groups[0].functional_id, reply.groups[0].sender_id, reply.groups[0].receiver_id) == (
        "FA",
        "DSAPP",
        "SUPAPP",
    )
    assert validate_interchange(reply, {"997"}).accepted
    received = parse_997(reply.groups[0].transactions[0])
    assert (received.functional_id, received.group_control_number, received.status) == ("SH", "77", "P")
    assert (received.included, received.received, received.accepted_count) == (2, 2, 1)
    assert received.partially_accepted and not received.accepted
    assert received.set_status("0001") is not None and received.set_status("0001").accepted  # type: ignore[union-attr]
    rejected = received.set_status("0002")
    assert rejected is not None and not rejected.accepted and rejected.error_codes == ("4",)


def test_parse_997_accepted_with_errors_noted_and_group_codes() -> None:
    ts = TransactionSet(
        "997",
        "0001",
        [
            Segment.of("AK1", "PO", "12"),
            Segment.of("AK2", "850", "0001"),
            Segment.of("AK5", "E", "5"),
            Segment.of("AK9", "E", "1", "1", "1"),
        ],
    )
    received = parse_997(ts)
    assert received.accepted and received.sets[0].accepted and received.sets[0].error_codes == ("5",)
    rejected = parse_997(
        TransactionSet("997", "0002", [Segment.of("AK1", "PO", "12"), Segment.of("AK9", "R", "1", "0", "0", "3")])
    )
    assert not rejected.accepted and rejected.error_codes == ("3",) and rejected.sets == ()
