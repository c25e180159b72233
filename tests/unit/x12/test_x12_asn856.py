"""856 ship notice: HL tree in any shape (S-O-P-I, S-O-I, S-P-O-I), several orders, build/parse round trip."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from dropship_x12 import (
    Carrier,
    Package,
    Segment,
    ShipNotice,
    ShippedItem,
    TransactionSet,
    X12ContentError,
    build_856,
    parse_856,
)

CREATED = datetime(2024, 3, 7, 15, 45)
UPS = Carrier("UPSN", "UPS", "GROUND")


def notices() -> list[ShipNotice]:
    common = dict(shipment_id="SHP-1", shipped_date=date(2024, 3, 7), carrier=UPS, tracking_number="PRO123")
    return [
        ShipNotice(
            po_number="DS-1",
            packages=(
                Package(
                    (ShippedItem(1, Decimal(2), (("BP", "SKU-RED"), ("VP", "AC-100"))),),
                    ("00000715670002152360",),
                    "1Z999",
                ),
                Package((ShippedItem(2, Decimal(1), (("VP", "AC-200"),)),), (), "1Z998"),
            ),
            **common,  # type: ignore[arg-type]
        ),
        ShipNotice(
            po_number="DS-2",
            packages=(Package((ShippedItem(1, Decimal("1.5"), (("UP", "0123"),), "LB"),)),),
            **common,  # type: ignore[arg-type]
        ),
    ]


def test_round_trip_with_two_orders() -> None:
    ts = build_856(notices(), 9, CREATED)
    assert ts.segments[0] == Segment.of("BSN", "00", "SHP-1", "20240307", "1545", "0001")
    assert (
        Segment.of("TD5", None, "2", "UPSN", None, "UPS", None, None, None, None, None, None, "GROUND") in ts.segments
    )
    assert Segment.of("MAN", "CP", "1Z999") in ts.segments
    hl = [s for s in ts.segments if s.id == "HL"]
    assert [s.element(3) for s in hl] == ["S", "O", "P", "I", "P", "I", "O", "I"]
    assert ts.segments[-1] == Segment.of("CTT", "8")
    assert parse_856(ts) == notices()


def test_items_directly_under_order_without_pack_level() -> None:
    ts = TransactionSet(
        "856",
        "0001",
        [
            Segment.of("BSN", "00", "S9", "20240301", "0800", "0004"),
            Segment.of("HL", "1", None, "S"),
            Segment.of("TD5", None, None, None, None, "Local courier"),
            Segment.of("HL", "2", "1", "O"),
            Segment.of("PRF", "PO-7"),
            Segment.of("REF", "CN", "TRK-7"),
            Segment.of("HL", "3", "2", "I"),
            Segment.of("LIN", "4", "BP", "SKU-A", "VP", "V-A"),
            Segment.of("SN1", None, "3", "EA"),
        ],
    )
    [notice] = parse_856(ts)
    assert notice.shipped_date == date(2024, 3, 1)  # BSN03 when no DTM*011
    assert notice.carrier == Carrier(None, "Local courier")
    assert notice.tracking_number == "TRK-7"
    assert notice.packages == (Package((ShippedItem(4, Decimal(3), (("BP", "SKU-A"), ("VP", "V-A"))),)),)
    assert notice.items[0].part("VP") == "V-A" and notice.items[0].part("UP") is None


def test_pack_above_order_and_levels_out_of_order() -> None:
    ts = TransactionSet(
        "856",
        "0001",
        [
            Segment.of("BSN", "00", "S10", "20240301", "0800"),
            Segment.of("HL", "1", None, "S"),
            Segment.of("DTM", "011", "20240302"),
            Segment.of("HL", "2", "1", "T"),
            Segment.of("MAN", "GM", "PALLET1"),
            Segment.of("HL", "5", "4", "I"),
            Segment.of("LIN", None, "BP", "SKU-B"),
            Segment.of("SN1", None, "1", "EA"),
            Segment.of("HL", "4", "3", "O"),
            Segment.of("PRF", "PO-8"),
            Segment.of("HL", "3", "2", "P"),
            Segment.of("MAN", "GM", "CARTON1"),
        ],
    )
    [notice] = parse_856(ts)
    assert notice.po_number == "PO-8" and notice.shipped_date == date(2024, 3, 2)
    assert notice.packages == (Package((ShippedItem(None, Decimal(1), (("BP", "SKU-B"),)),), ("CARTON1",)),)


@pytest.mark.parametrize(
    ("segments", "fragment"),
    [
        ([Segment.of("HL", "1", None, "S")], "BSN"),
        (
            [
                Segment.of("BSN", "00", "S", "20240301"),
                Segment.of("HL", "1", None, "O"),
                Segment.of("HL", "2", "1", "I"),
                Segment.of("SN1", None, "1"),
            ],
            "PRF01",
        ),
        (
            [
                Segment.of("BSN", "00", "S", "20240301"),
                Segment.of("HL", "1", None, "S"),
                Segment.of("HL", "2", "1", "I"),
                Segment.of("SN1", None, "1"),
            ],
            "not under an order",
        ),
        (
            [
                Segment.of("BSN", "00", "S", "20240301"),
                Segment.of("HL", "1", "2", "O"),
                Segment.of("PRF", "P"),
                Segment.of("HL", "2", "1", "I"),
                Segment.of("SN1", None, "1"),
            ],
            "loop",
        ),
        (
            [
                Segment.of("BSN", "00", "S", "20240301"),
                Segment.of("HL", "1", None, "O"),
                Segment.of("PRF", "P"),
                Segment.of("HL", "1", "1", "I"),
            ],
            "unique",
        ),
        (
            [
                Segment.of("BSN", "00", "S", "20240301"),
                Segment.of("HL", "1", None, "O"),
                Segment.of("PRF", "P"),
                Segment.of("HL", "2", "1", "I"),
            ],
            "SN1",
        ),
        (
            [
                Segment.of("BSN", "00", "S", "20240301"),
                Segment.of("HL", "1", None, "O"),
                Segment.of("PRF", "P"),
                Segment.of("HL", "2", "1", "I"),
                Segment.of("LIN", "x"),
                Segment.of("SN1", None, "1"),
            ],
            "LIN01",
        ),
    ],
)
def test_broken_trees_raise_content_errors(segments: list[Segment], fragment: str) -> None:
    with pytest.raises(X12ContentError, match=fragment):
        parse_856(TransactionSet("856", "0001", segments))


def test_builder_refuses_notices_of_different_shipments() -> None:
    first, second = notices()
    other = ShipNotice("SHP-2", second.po_number, second.shipped_date, second.carrier, second.tracking_number)
    with pytest.raises(X12ContentError, match="share"):
        build_856([first, other], 1, CREATED)
    with pytest.raises(X12ContentError):
        build_856([], 1, CREATED)
