"""pyx12 4.x as an independent oracle for what we write.

What is checked, and how:

* 850, 855, 856 (no pyx12 maps: it only maps HIPAA sets) — ``pyx12.x12file.X12Reader``
  is iterated over our output and its error list collected (``pop_errors`` per
  segment, then ``cleanup`` for unclosed loops).  That covers the envelope: ISA
  with 16 elements and its delimiters, ISA13/IEA02, IEA01 group count, GS06/GE02,
  GE01 set count, ST02/SE02, SE01 segment count, duplicate control numbers,
  segment-id syntax, trailing element separators, HL01 sequence and HL02 parents.
* 997 — the full ``pyx12.x12n_document`` validation against pyx12's own 997 4010
  map (segment order, loop AK2/AK5, mandatory elements, code lists for AK5/AK9,
  element lengths).  That map is the HIPAA one: it restricts AK101 and AK201 to
  HIPAA group/set ids, so a copy of the map directory with those two code lists
  removed is used; everything else is pyx12's map as shipped.

A deliberately broken document is run through the same oracle first, so the
oracle is known to be able to fail.
"""

from __future__ import annotations

import io
import logging
import re
import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import pyx12
import pyx12.params
import pyx12.x12file
import pyx12.x12n_document

from dropship_x12 import (
    INBOUND_SETS,
    AckLine,
    Carrier,
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
    build_997_document,
    envelope,
    read_interchange,
    serialize_interchange,
)

PARTNERS = Partners("ZZ", "DROPSHIP", "ZZ", "SUPPLIER")
WHEN = datetime(2024, 3, 5, 10, 30)


def envelope_errors(text: str) -> list[tuple[str, str, str]]:
    reader = pyx12.x12file.X12Reader(io.StringIO(text))
    errors = []
    for _segment in reader:
        errors.extend(reader.pop_errors())
    reader.cleanup()
    errors.extend(reader.pop_errors())
    return [(kind, code, message) for kind, code, message, *_ in errors]


@pytest.fixture(scope="module")
def generic_997_maps(tmp_path_factory: pytest.TempPathFactory) -> str:
    target = tmp_path_factory.mktemp("pyx12") / "map"
    shutil.copytree(Path(pyx12.__file__).parent / "map", target)
    map_file = target / "997.4010.xml"
    text = map_file.read_text(encoding="utf-8")
    for element in ("AK101", "AK201"):
        pattern = rf'(<element xid="{element}">.*?)<valid_codes>.*?</valid_codes>'
        text, replaced = re.subn(pattern, r"\1", text, count=1, flags=re.S)
        assert replaced == 1, f"pyx12 997 map layout changed ({element})"
    map_file.write_text(text, encoding="utf-8")
    return str(target)


def pyx12_validates_997(text: str, map_path: str, caplog: pytest.LogCaptureFixture) -> tuple[bool, list[str]]:
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="pyx12"):
        ok = pyx12.x12n_document.x12n_document(pyx12.params.params(), io.StringIO(text), None, None, map_path=map_path)
    return bool(ok), [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def po() -> PurchaseOrder850:
    ship_to = ShipTo("Alice Martin", ("12 Rue Haute", "Apt 3"), "Lyon", "ARA", "69001", "FR", "+33400000000")
    lines = tuple(
        PurchaseOrderLine850(n, n * 2, Decimal("9.99"), f"SKU-{n}", f"V-{n}", ship_to, f"C-{n}", f"Item {n}")
        for n in range(1, 5)
    )
    return PurchaseOrder850("DS-1", date(2024, 3, 5), "USD", "DS01", "Dropship Co", lines)


def test_oracle_can_fail() -> None:
    text = build_850_document(
        po(),
        partners=PARTNERS,
        interchange_control_number=1,
        group_control_number=1,
        set_control_number=1,
        prepared_at=WHEN,
    )
    broken = text.replace("SE*", "SE*9", 1).replace("GE*1*", "GE*2*")
    codes = {code for _, code, _ in envelope_errors(broken)}
    assert {"4", "5"} <= codes


@pytest.mark.parametrize("isa_number", [1, 42, 999_999_999])
def test_850_envelope_has_no_pyx12_errors(isa_number: int) -> None:
    text = build_850_document(
        po(),
        partners=PARTNERS,
        interchange_control_number=isa_number,
        group_control_number=isa_number % 1000 + 1,
        set_control_number=7,
        prepared_at=WHEN,
    )
    assert envelope_errors(text) == []


def test_855_and_856_envelopes_have_no_pyx12_errors() -> None:
    ack = PurchaseOrderAcknowledgement(
        "DS-1",
        "AC",
        date(2024, 3, 6),
        (
            AckLine(1, "IA", Decimal(2), Decimal(2), date(2024, 3, 8)),
            AckLine(2, "IR", Decimal(0), Decimal(4), None, "X"),
        ),
    )
    item = ShippedItem(1, Decimal(2), (("BP", "SKU-1"),))
    notices = [
        ShipNotice("S1", "DS-1", date(2024, 3, 7), Carrier("UPSN", "UPS"), "PRO1", (Package((item,), ("C1",), "1Z"),)),
        ShipNotice("S1", "DS-2", date(2024, 3, 7), Carrier("UPSN", "UPS"), "PRO1", (Package((item, item)),)),
    ]
    for transaction_set, functional_id in ((build_855(ack, 1), "PR"), (build_856(notices, 2, WHEN), "SH")):
        text = serialize_interchange(
            envelope(
                [transaction_set],
                partners=PARTNERS,
                functional_id=functional_id,
                interchange_control_number=5,
                group_control_number=6,
                prepared_at=WHEN,
            )
        )
        assert envelope_errors(text) == []


def test_997_oracle_can_fail(generic_997_maps: str, caplog: pytest.LogCaptureFixture) -> None:
    good = (
        "ISA*00*          *00*          *ZZ*DROPSHIP       *ZZ*SUPPLIER       *240305*1030*U*00401*000000001*0*P*>~"
        "GS*FA*DROPSHIP*SUPPLIER*20240305*1030*1*X*004010~ST*997*0001~AK1*SH*7~AK9*A*0*0*0~SE*4*0001~"
        "GE*1*1~IEA*1*000000001~"
    )
    assert pyx12_validates_997(good, generic_997_maps, caplog) == (True, [])
    ok, errors = pyx12_validates_997(good.replace("AK9*A", "AK9*Q"), generic_997_maps, caplog)
    assert not ok and errors


@pytest.mark.parametrize(
    "body",
    [
        "ST*856*0001~BSN*00*S1*20240102*1200~SE*3*0001~",  # accepted
        "ST*856*0001~BSN*00*S1*20240102*1200~SE*3*0001~ST*856*0002~BSN*00*S2*20240102*1200~SE*9*0002~",  # partial
        "ST*940*0001~W05*N*1~SE*3*0001~ST*856*0002~BSN*00*S2*20240102*1200~SE*3*0009~",  # rejected, 2 reasons
        "ST*856*0001~9SN*00*S1*20240102*1200~SE*3*0001~",  # AK3 for an invalid segment id
    ],
)
def test_our_997s_pass_pyx12_997_map(body: str, generic_997_maps: str, caplog: pytest.LogCaptureFixture) -> None:
    sets = body.count("ST*")
    inbound = (
        "ISA*00*          *00*          *ZZ*SUPPLIER       *ZZ*DROPSHIP       *240102*0304*U*00401*000000042*0*P*>~"
        f"GS*SH*SUPPLIER*DROPSHIP*20240102*0304*77*X*004010~{body}GE*{sets}*78~IEA*1*000000042~"
    )
    text = build_997_document(
        read_interchange(inbound),
        supported_sets=INBOUND_SETS,
        interchange_control_number=9,
        group_control_number=10,
        first_set_control_number=1,
        prepared_at=WHEN,
    )
    assert text is not None
    assert envelope_errors(text) == []
    assert pyx12_validates_997(text, generic_997_maps, caplog) == (True, [])
