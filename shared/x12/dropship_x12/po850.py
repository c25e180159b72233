"""Outbound 850 purchase order: build it from a PurchaseOrder850, and read one back (simulator, round trips)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from .model import (
    DEFAULT_DELIMITERS,
    Delimiters,
    Segment,
    TransactionSet,
    X12ContentError,
    clean_text,
    parse_date,
    parse_decimal,
    parse_int,
)
from .writer import Partners, control_number, envelope, serialize_interchange


@dataclass(frozen=True, slots=True)
class ShipTo:
    name: str
    address_lines: tuple[str, ...]
    city: str
    region: str
    postal_code: str
    country: str
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class PurchaseOrderLine850:
    line_no: int
    quantity: int
    unit_price: Decimal
    buyer_part_number: str
    vendor_part_number: str
    ship_to: ShipTo | None = None
    customer_ref: str | None = None
    description: str | None = None
    unit_of_measure: str = "EA"


@dataclass(frozen=True, slots=True)
class PurchaseOrder850:
    po_number: str
    po_date: date
    currency: str
    buyer_id: str
    buyer_name: str
    lines: tuple[PurchaseOrderLine850, ...] = field(default_factory=tuple)

    @property
    def quantity_hash_total(self) -> int:
        return sum(line.quantity for line in self.lines)


def build_850(po: PurchaseOrder850, set_control_number: int | str) -> TransactionSet:
    """The 850 set: BEG*00*DS, CUR*BY, N1*BY, PO1 loops (PID, REF*CO, N1*ST/N3/N4/PER), CTT."""
    if not po.lines:
        raise X12ContentError(f"PO {po.po_number}: an 850 needs at least one line")
    segments = [
        Segment.of("BEG", "00", "DS", _text(po.po_number), None, po.po_date.strftime("%Y%m%d")),
        Segment.of("CUR", "BY", po.currency),
    ]
    if po.buyer_id or po.buyer_name:
        segments.append(Segment.of("N1", "BY", _text(po.buyer_name), "92" if po.buyer_id else None, _text(po.buyer_id)))
    for line in po.lines:
        segments.extend(_po1_loop(line))
    segments.append(Segment.of("CTT", len(po.lines), po.quantity_hash_total))
    return TransactionSet("850", control_number(set_control_number, 4), segments)


def build_850_document(
    po: PurchaseOrder850,
    *,
    partners: Partners,
    interchange_control_number: int | str,
    group_control_number: int | str,
    set_control_number: int | str,
    prepared_at: datetime,
    delimiters: Delimiters = DEFAULT_DELIMITERS,
) -> str:
    """A complete ISA/GS/ST interchange carrying one 850 (control numbers come from the caller's counters)."""
    interchange = envelope(
        [build_850(po, set_control_number)],
        partners=partners,
        functional_id="PO",
        interchange_control_number=interchange_control_number,
        group_control_number=group_control_number,
        prepared_at=prepared_at,
        delimiters=delimiters,
    )
    return serialize_interchange(interchange)


def parse_850(transaction: TransactionSet) -> PurchaseOrder850:
    """Read an 850; a header N1*ST is the default ship-to of lines without their own (common in retail 850s)."""
    if transaction.code != "850":
        raise X12ContentError(f"expected an 850, got {transaction.code}")
    beg = transaction.find("BEG")
    if beg is None or not beg.element(3):
        raise X12ContentError(f"850 {transaction.control_number}: BEG with a PO number is missing")
    cur = transaction.find("CUR")
    buyer_id = buyer_name = ""
    header_ship_to: ShipTo | None = None
    lines: list[PurchaseOrderLine850] = []
    for loop in _po1_loops(transaction.segments):
        head = loop[0]
        if head.id != "PO1":
            # header part: pick the buyer and a default ship-to from the header N1 loops
            for party in _n1_loops(loop):
                if party[0].element(1) == "BY":
                    buyer_name, buyer_id = party[0].element(2), party[0].element(4)
                elif party[0].element(1) == "ST":
                    header_ship_to = _ship_to(party)
            continue
        lines.append(_line(loop, header_ship_to))
    return PurchaseOrder850(
        po_number=beg.element(3),
        po_date=parse_date(beg.element(5), "BEG05"),
        currency=cur.element(2) if cur else "",
        buyer_id=buyer_id,
        buyer_name=buyer_name,
        lines=tuple(lines),
    )


def _po1_loop(line: PurchaseOrderLine850) -> Iterator[Segment]:
    yield Segment.of(
        "PO1",
        line.line_no,
        line.quantity,
        line.unit_of_measure,
        line.unit_price,
        None,
        "BP",
        _text(line.buyer_part_number),
        "VP",
        _text(line.vendor_part_number),
    )
    if line.description:
        yield Segment.of("PID", "F", None, None, None, _text(line.description))
    if line.customer_ref:
        # REF*CO (customer order number) inside the PO1 loop ties the line to the end customer's order.
        yield Segment.of("REF", "CO", _text(line.customer_ref))
    if line.ship_to is not None:
        ship = line.ship_to
        if not 1 <= len(ship.address_lines) <= 2:
            raise X12ContentError(f"line {line.line_no}: ship-to needs 1 or 2 address lines")
        yield Segment.of("N1", "ST", _text(ship.name))
        yield Segment.of("N3", *(_text(a) for a in ship.address_lines))
        yield Segment.of("N4", _text(ship.city), _text(ship.region), _text(ship.postal_code), _text(ship.country))
        if ship.phone:
            yield Segment.of("PER", "IC", None, "TE", _text(ship.phone))


def _text(value: str) -> str:
    return clean_text(value)


def _po1_loops(segments: list[Segment]) -> list[list[Segment]]:
    """Split the body into [header..., PO1 loop, PO1 loop, ...]; the summary (CTT, AMT) is dropped."""
    loops: list[list[Segment]] = [[]]
    for segment in segments:
        if segment.id == "CTT":
            break
        if segment.id == "PO1":
            loops.append([])
        loops[-1].append(segment)
    return loops


def _n1_loops(segments: list[Segment]) -> list[list[Segment]]:
    loops: list[list[Segment]] = []
    current: list[Segment] | None = None
    for segment in segments:
        if segment.id == "N1":
            current = [segment]
            loops.append(current)
        elif current is not None and segment.id in ("N2", "N3", "N4", "REF", "PER"):
            current.append(segment)
        else:
            current = None  # any other segment closes the N1 loop
    return loops


def _ship_to(party: list[Segment]) -> ShipTo:
    address: list[str] = []
    city = region = postal = country = ""
    phone: str | None = None
    for segment in party[1:]:
        if segment.id == "N3":
            address.extend(e for e in segment.elements if e)
        elif segment.id == "N4":
            city, region, postal, country = (segment.element(i) for i in range(1, 5))
        elif segment.id == "PER":
            phone = _phone(segment)
    return ShipTo(party[0].element(2), tuple(address), city, region, postal, country, phone)


def _phone(per: Segment) -> str | None:
    for qualifier_at in (3, 5, 7):
        if per.element(qualifier_at) == "TE":
            return per.element(qualifier_at + 1) or None
    return None


def _line(loop: list[Segment], default_ship_to: ShipTo | None) -> PurchaseOrderLine850:
    po1 = loop[0]
    where = f"PO1 {po1.element(1)!r}"
    ids = product_ids(po1, first=6, last=25)
    description = next((s.element(5) for s in loop if s.id == "PID" and s.element(5)), None)
    customer_ref = next((s.element(2) for s in loop if s.id == "REF" and s.element(1) == "CO"), None)
    parties = [p for p in _n1_loops(loop[1:]) if p[0].element(1) == "ST"]
    return PurchaseOrderLine850(
        line_no=parse_int(po1.element(1), f"{where} PO101"),
        quantity=_whole(parse_decimal(po1.element(2), f"{where} PO102"), f"{where} PO102"),
        unit_price=parse_decimal(po1.element(4) or "0", f"{where} PO104"),
        # Without BP, the buyer's catalog (CB) or item (IN) number is the closest thing to our SKU.
        buyer_part_number=ids.get("BP") or ids.get("CB") or ids.get("IN", ""),
        # Retail 850s often send the vendor's number as VN (vendor item number) rather than VP.
        vendor_part_number=ids.get("VP") or ids.get("VN", ""),
        ship_to=_ship_to(parties[0]) if parties else default_ship_to,
        customer_ref=customer_ref,
        description=description,
        unit_of_measure=po1.element(3),
    )


def _whole(value: Decimal, where: str) -> int:
    if value != value.to_integral_value():
        raise X12ContentError(f"{where}: quantity {value} is not a whole number")
    return int(value)


def product_ids(segment: Segment, *, first: int, last: int) -> dict[str, str]:
    """Qualifier → id pairs found at elements first, first+2, ... last (PO106/07..., LIN02/03...)."""
    ids: dict[str, str] = {}
    for at in range(first, last + 1, 2):
        qualifier, value = segment.element(at), segment.element(at + 1)
        if qualifier and value and qualifier not in ids:
            ids[qualifier] = value
    return ids
