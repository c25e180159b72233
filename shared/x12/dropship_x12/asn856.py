"""Inbound 856 ship notice: walk the HL tree into one ShipNotice per order, and build an 856 (simulator)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from .model import (
    Segment,
    TransactionSet,
    X12ContentError,
    clean_text,
    parse_date,
    parse_decimal,
    parse_int,
)
from .po850 import product_ids
from .writer import control_number


@dataclass(frozen=True, slots=True)
class Carrier:
    scac: str | None = None
    name: str | None = None
    service_level: str | None = None


@dataclass(frozen=True, slots=True)
class ShippedItem:
    """LIN + SN1: ``product_ids`` are (qualifier, id) pairs in LIN order, e.g. (("BP", "SKU-1"), ("VP", "X9"))."""

    line_no: int | None
    quantity: Decimal
    product_ids: tuple[tuple[str, str], ...] = ()
    unit_of_measure: str = "EA"

    def part(self, qualifier: str) -> str | None:
        return next((value for q, value in self.product_ids if q == qualifier), None)


@dataclass(frozen=True, slots=True)
class Package:
    """A pack level (HL P): carton ids from MAN (GM = SSCC-18 label, CP = carrier package id).

    Items hanging directly under the order (no pack level) are gathered in one
    package with no ids and no tracking number.
    """

    items: tuple[ShippedItem, ...]
    carton_ids: tuple[str, ...] = ()
    tracking_number: str | None = None


@dataclass(frozen=True, slots=True)
class ShipNotice:
    """One order (PRF PO number) of an 856; several orders in one ASN share shipment_id, carrier and date."""

    shipment_id: str
    po_number: str
    shipped_date: date
    carrier: Carrier = field(default_factory=Carrier)
    tracking_number: str | None = None
    packages: tuple[Package, ...] = ()

    @property
    def items(self) -> tuple[ShippedItem, ...]:
        return tuple(item for package in self.packages for item in package.items)


@dataclass(slots=True)
class _Level:
    number: str
    parent: str
    code: str
    segments: list[Segment]


def parse_856(transaction: TransactionSet) -> list[ShipNotice]:
    """Ship notices in HL order of their O levels; works for S-O-P-I, S-O-I, S-P-O-I (parents via HL02)."""
    if transaction.code != "856":
        raise X12ContentError(f"expected an 856, got {transaction.code}")
    bsn = transaction.find("BSN")
    if bsn is None or not bsn.element(2):
        raise X12ContentError(f"856 {transaction.control_number}: BSN with a shipment id is missing")
    levels = _levels(transaction.segments)
    by_number = {level.number: level for level in levels}
    shipment = next((level for level in levels if level.code == "S"), None)
    shipment_segments = shipment.segments if shipment else []
    shipped_date = _shipped_date(shipment_segments) or parse_date(bsn.element(3), "BSN03")
    carrier = _carrier(shipment_segments)
    tracking = _ref(shipment_segments, "CN")

    orders = [level for level in levels if level.code == "O"]
    items_by_order: dict[str, dict[str | None, list[ShippedItem]]] = {o.number: {} for o in orders}
    for level in levels:
        if level.code != "I":
            continue
        ancestors = _ancestors(level, by_number)
        order = next((a for a in ancestors if a.code == "O"), None)
        if order is None:
            raise X12ContentError(f"856 HL {level.number}: item is not under an order (O) level")
        pack = next((a for a in ancestors if a.code == "P"), None)
        items_by_order[order.number].setdefault(pack.number if pack else None, []).append(_item(level))

    notices: list[ShipNotice] = []
    for order in orders:
        po_number = next((s.element(1) for s in order.segments if s.id == "PRF" and s.element(1)), "")
        if not po_number:
            raise X12ContentError(f"856 HL {order.number}: order level without PRF01 PO number")
        packages = [
            _package(by_number[pack_no] if pack_no else None, items)
            for pack_no, items in items_by_order[order.number].items()
        ]
        notices.append(
            ShipNotice(
                shipment_id=bsn.element(2),
                po_number=po_number,
                shipped_date=shipped_date,
                carrier=carrier,
                tracking_number=_ref(order.segments, "CN") or tracking,
                packages=tuple(packages),
            )
        )
    return notices


def build_856(notices: Sequence[ShipNotice], set_control_number: int | str, created_at: datetime) -> TransactionSet:
    """One 856 for notices sharing a shipment: S, then per notice O, P (skipped for id-less packages), I."""
    if not notices:
        raise X12ContentError("an 856 needs at least one ship notice")
    first = notices[0]
    for notice in notices[1:]:
        if (notice.shipment_id, notice.shipped_date, notice.carrier, notice.tracking_number) != (
            first.shipment_id,
            first.shipped_date,
            first.carrier,
            first.tracking_number,
        ):
            raise X12ContentError("notices in one 856 must share shipment id, date, carrier and tracking number")
    has_packs = any(p.carton_ids or p.tracking_number for n in notices for p in n.packages)
    segments = [
        Segment.of(
            "BSN",
            "00",
            clean_text(first.shipment_id),
            created_at.strftime("%Y%m%d"),
            created_at.strftime("%H%M"),
            "0001" if has_packs else "0004",
        )
    ]
    counter = _Counter()
    shipment_hl = counter.next()
    segments.append(Segment.of("HL", shipment_hl, None, "S"))
    carrier = first.carrier
    if carrier.scac or carrier.name or carrier.service_level:
        segments.append(
            Segment.of(
                "TD5",
                None,
                "2" if carrier.scac else None,
                carrier.scac,
                None,
                clean_text(carrier.name or ""),
                *([None] * 6),
                carrier.service_level,
            )
        )
    if first.tracking_number:
        segments.append(Segment.of("REF", "CN", clean_text(first.tracking_number)))
    segments.append(Segment.of("DTM", "011", first.shipped_date.strftime("%Y%m%d")))
    for notice in notices:
        order_hl = counter.next()
        segments += [Segment.of("HL", order_hl, shipment_hl, "O"), Segment.of("PRF", clean_text(notice.po_number))]
        for package in notice.packages:
            parent = order_hl
            if package.carton_ids or package.tracking_number:
                parent = counter.next()
                segments.append(Segment.of("HL", parent, order_hl, "P"))
                segments += [Segment.of("MAN", "GM", clean_text(c)) for c in package.carton_ids]
                if package.tracking_number:
                    segments.append(Segment.of("MAN", "CP", clean_text(package.tracking_number)))
            for item in package.items:
                segments.append(Segment.of("HL", counter.next(), parent, "I"))
                ids = [clean_text(x) for pair in item.product_ids for x in pair]
                segments.append(Segment.of("LIN", item.line_no, *ids))
                segments.append(Segment.of("SN1", None, item.quantity, item.unit_of_measure))
    segments.append(Segment.of("CTT", counter.value))
    return TransactionSet("856", control_number(set_control_number, 4), segments)


class _Counter:
    def __init__(self) -> None:
        self.value = 0

    def next(self) -> int:
        self.value += 1
        return self.value


def _levels(segments: list[Segment]) -> list[_Level]:
    levels: list[_Level] = []
    for segment in segments:
        if segment.id == "HL":
            levels.append(_Level(segment.element(1), segment.element(2), segment.element(3), []))
        elif segment.id == "CTT":
            break
        elif levels:
            levels[-1].segments.append(segment)
    numbers = [level.number for level in levels]
    if len(set(numbers)) != len(numbers):
        raise X12ContentError("856: HL01 ids are not unique")
    return levels


def _ancestors(level: _Level, by_number: dict[str, _Level]) -> list[_Level]:
    chain: list[_Level] = []
    seen = {level.number}
    parent = by_number.get(level.parent)
    while parent is not None:
        if parent.number in seen:
            raise X12ContentError(f"856: HL parent loop at HL {parent.number}")
        seen.add(parent.number)
        chain.append(parent)
        parent = by_number.get(parent.parent)
    return chain


def _shipped_date(segments: list[Segment]) -> date | None:
    dtm = next((s for s in segments if s.id == "DTM" and s.element(1) == "011" and s.element(2)), None)
    return parse_date(dtm.element(2), "DTM*011") if dtm else None


def _carrier(segments: list[Segment]) -> Carrier:
    td5 = next((s for s in segments if s.id == "TD5" and (s.element(3) or s.element(5) or s.element(12))), None)
    if td5 is None:
        return Carrier()
    return Carrier(
        scac=td5.element(3) if td5.element(2) == "2" and td5.element(3) else None,
        name=td5.element(5) or None,
        service_level=td5.element(12) or None,
    )


def _ref(segments: list[Segment], qualifier: str) -> str | None:
    return next((s.element(2) for s in segments if s.id == "REF" and s.element(1) == qualifier and s.element(2)), None)


def _item(level: _Level) -> ShippedItem:
    lin = next((s for s in level.segments if s.id == "LIN"), None)
    sn1 = next((s for s in level.segments if s.id == "SN1"), None)
    if sn1 is None:
        raise X12ContentError(f"856 HL {level.number}: item level without SN1")
    where = f"856 HL {level.number}"
    return ShippedItem(
        line_no=parse_int(lin.element(1), f"{where} LIN01") if lin and lin.element(1) else None,
        quantity=parse_decimal(sn1.element(2), f"{where} SN102"),
        product_ids=tuple(product_ids(lin, first=2, last=30).items()) if lin else (),
        unit_of_measure=sn1.element(3) or "EA",
    )


def _package(pack: _Level | None, items: list[ShippedItem]) -> Package:
    if pack is None:
        return Package(tuple(items))
    marks = [(s.element(1), s.element(2)) for s in pack.segments if s.id == "MAN" and s.element(2)]
    tracking = next((value for q, value in marks if q == "CP"), None) or _ref(pack.segments, "CN")
    return Package(
        items=tuple(items),
        carton_ids=tuple(value for q, value in marks if q != "CP"),
        tracking_number=tracking,
    )
