"""Property tests: random POs, acknowledgements and ship notices survive write → read → validate → parse."""

from __future__ import annotations

from datetime import date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from dropship_x12 import (
    DEFAULT_DELIMITERS,
    NEWLINE_DELIMITERS,
    AckLine,
    Carrier,
    Delimiters,
    Package,
    Partners,
    PurchaseOrder850,
    PurchaseOrderAcknowledgement,
    PurchaseOrderLine850,
    ShipNotice,
    ShippedItem,
    ShipTo,
    build_850_document,
    build_855,
    build_856,
    clean_text,
    envelope,
    parse_850,
    parse_855,
    parse_856,
    read_interchange,
    serialize_interchange,
    validate_interchange,
)

DELIMITER_SETS = [
    DEFAULT_DELIMITERS,
    NEWLINE_DELIMITERS,
    Delimiters("|", "^", "~", suffix="\r\n"),
    Delimiters("*", ">", "\n"),  # newline-terminated, like 850.OK.edi
]
PARTNERS = Partners("ZZ", "DROPSHIP", "ZZ", "SUPPLIER")

# Free text as a person would type it, including delimiter characters the builders must clean.
free_text = (
    st.text(
        alphabet=st.characters(codec="utf-8", categories=("L", "N", "Zs", "P", "S"), exclude_characters="\x85"),
        min_size=1,
        max_size=35,
    )
    .map(clean_text)
    .filter(bool)
)
code = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-", min_size=1, max_size=20)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.replace(second=0, microsecond=0)
)
money = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False)
quantities = st.decimals(min_value=0, max_value=10**5, places=3, allow_nan=False, allow_infinity=False)
control = st.integers(min_value=1, max_value=999_999_999)

ship_tos = st.builds(
    ShipTo,
    name=free_text,
    address_lines=st.lists(free_text, min_size=1, max_size=2).map(tuple),
    city=free_text,
    region=code,
    postal_code=code,
    country=st.sampled_from(["US", "CA", "FR", "DE"]),
    phone=st.none() | code,
)


@st.composite
def purchase_orders(draw: st.DrawFn) -> PurchaseOrder850:
    count = draw(st.integers(min_value=1, max_value=6))
    lines = tuple(
        PurchaseOrderLine850(
            line_no=number,
            quantity=draw(st.integers(min_value=1, max_value=10**6)),
            unit_price=draw(money),
            buyer_part_number=draw(code),
            vendor_part_number=draw(code),
            ship_to=draw(st.none() | ship_tos),
            customer_ref=draw(st.none() | code),
            description=draw(st.none() | free_text),
        )
        for number in range(1, count + 1)
    )
    return PurchaseOrder850(
        draw(code), draw(days), draw(st.sampled_from(["USD", "EUR"])), draw(code), draw(free_text), lines
    )


@settings(max_examples=150, deadline=None)
@given(purchase_orders(), st.sampled_from(DELIMITER_SETS), control, control, control, moments)
def test_random_purchase_orders_round_trip(
    po: PurchaseOrder850, delimiters: Delimiters, isa: int, gs: int, st_number: int, when: datetime
) -> None:
    text = build_850_document(
        po,
        partners=PARTNERS,
        interchange_control_number=isa,
        group_control_number=gs,
        set_control_number=st_number,
        prepared_at=when,
        delimiters=delimiters,
    )
    ic = read_interchange(text)
    report = validate_interchange(ic, {"850"})
    assert report.accepted, report.all_issues()
    assert int(ic.control_number) == isa and int(ic.groups[0].control_number) == gs
    assert parse_850(ic.groups[0].transactions[0]) == po


@st.composite
def acknowledgements(draw: st.DrawFn) -> PurchaseOrderAcknowledgement:
    lines: list[AckLine] = []
    for line_no in range(1, draw(st.integers(min_value=0, max_value=5)) + 1):
        ordered = draw(st.none() | quantities)
        for _ in range(draw(st.integers(min_value=1, max_value=3))):
            lines.append(
                AckLine(
                    line_no=line_no,
                    ack_code=draw(st.sampled_from(["IA", "IB", "IR", "IQ", "ID", "IC"])),
                    quantity=draw(quantities),
                    ordered_quantity=ordered,
                    expected_ship_date=draw(st.none() | days),
                    reason=draw(st.none() | code),
                    unit_of_measure=draw(st.sampled_from(["EA", "CA", "UN"])),
                )
            )
    return PurchaseOrderAcknowledgement(
        draw(code), draw(st.sampled_from(["AD", "AC", "RJ", "AK"])), draw(days), tuple(lines)
    )


def through_the_wire(transaction_set: object, functional_id: str, delimiters: Delimiters) -> object:
    ic = envelope(
        [transaction_set],  # type: ignore[list-item]
        partners=PARTNERS,
        functional_id=functional_id,
        interchange_control_number=1,
        group_control_number=1,
        prepared_at=datetime(2024, 1, 1),
        delimiters=delimiters,
    )
    back = read_interchange(serialize_interchange(ic))
    assert validate_interchange(back).accepted
    return back.groups[0].transactions[0]


@settings(max_examples=150, deadline=None)
@given(acknowledgements(), st.sampled_from(DELIMITER_SETS))
def test_random_acknowledgements_round_trip(ack: PurchaseOrderAcknowledgement, delimiters: Delimiters) -> None:
    parsed = parse_855(through_the_wire(build_855(ack, 1), "PR", delimiters))  # type: ignore[arg-type]
    assert parsed == ack
    assert parsed.status == ack.status


items = st.builds(
    ShippedItem,
    line_no=st.none() | st.integers(min_value=1, max_value=999),
    quantity=quantities,
    product_ids=st.dictionaries(st.sampled_from(["BP", "VP", "UP", "EN", "SK"]), code, max_size=3).map(
        lambda d: tuple(d.items())
    ),
    unit_of_measure=st.sampled_from(["EA", "LB"]),
)
packed = st.builds(
    Package,
    items=st.lists(items, min_size=1, max_size=3).map(tuple),
    carton_ids=st.lists(code, min_size=1, max_size=2).map(tuple),
    tracking_number=st.none() | code,
)
loose = st.builds(Package, items=st.lists(items, min_size=1, max_size=3).map(tuple))


@st.composite
def shipments(draw: st.DrawFn) -> list[ShipNotice]:
    carrier = draw(
        st.builds(Carrier, scac=st.none() | code, name=st.none() | free_text, service_level=st.none() | code)
    )
    shipment_id, shipped, tracking = draw(code), draw(days), draw(st.none() | code)
    notices = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        packages = draw(st.lists(packed, max_size=3))
        if draw(st.booleans()):
            packages.insert(draw(st.integers(min_value=0, max_value=len(packages))), draw(loose))
        notices.append(ShipNotice(shipment_id, draw(code), shipped, carrier, tracking, tuple(packages)))
    return notices


@settings(max_examples=150, deadline=None)
@given(shipments(), st.sampled_from(DELIMITER_SETS), moments)
def test_random_ship_notices_round_trip(notices: list[ShipNotice], delimiters: Delimiters, created: datetime) -> None:
    parsed = parse_856(through_the_wire(build_856(notices, 1, created), "SH", delimiters))  # type: ignore[arg-type]
    assert parsed == notices
