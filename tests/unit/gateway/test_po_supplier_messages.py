"""Reading supplier messages into the PO's terms (JSON bodies) and the dispatcher's backoff."""

from __future__ import annotations

import json
from datetime import date

import pytest

from supplier_gateway.adapters.json_messages import UnreadableMessage, read_message
from supplier_gateway.domain.supplier import Supplier, SupplierProtocol
from supplier_gateway.domain.supplier_messages import (
    Acknowledgement,
    AcknowledgementStatus,
    ShipmentNotice,
)
from supplier_gateway.service_layer.dispatcher import DispatchPolicy

SHIPMENT = {
    "shipment_id": "SH-1",
    "po_number": "PO-1",
    "shipped_at": "2026-11-26T12:00:00Z",
    "carrier": {"scac": "UPSN", "name": "UPS"},
    "service": "Ground",
    "packages": [{"tracking_number": "1Z1", "tracking_url": "https://t/1Z1", "lines": [{"line_no": 1, "qty": 2}]}],
    "something_new": "suppliers add fields; we ignore them",
}


def test_a_shipment_body_reads_into_a_notice_whatever_the_declared_kind() -> None:
    for kind in (None, "shipment"):
        notice = read_message(json.dumps(SHIPMENT).encode(), kind)
        assert isinstance(notice, ShipmentNotice)
        assert notice.shipped_at.tzinfo is not None
        assert notice.packages[0].lines[0].quantity == 2
        assert notice.carrier_scac == "UPSN"


def test_an_acknowledgement_body_reads_into_an_acknowledgement() -> None:
    body = {
        "po_number": "PO-1",
        "status": "partial",
        "lines": [
            {"line_no": 1, "status": "accepted", "qty": 2},
            {"line_no": 2, "status": "backordered", "qty": 1, "expected_ship_date": "2026-12-24"},
        ],
    }
    ack = read_message(json.dumps(body).encode(), "acknowledgement")
    assert isinstance(ack, Acknowledgement)
    assert ack.status is AcknowledgementStatus.PARTIAL
    assert ack.lines[1].expected_ship_date == date(2026, 12, 24)


@pytest.mark.parametrize(
    ("body", "kind", "field"),
    [
        (b"{not json", None, None),
        (b"[1, 2]", None, None),
        (json.dumps({**SHIPMENT, "packages": []}).encode(), None, "packages"),
        (json.dumps({**SHIPMENT, "shipped_at": "2026-11-26T12:00:00"}).encode(), None, "shipped_at"),
        (json.dumps({"po_number": "PO-1", "status": "maybe"}).encode(), "acknowledgement", "status"),
        (json.dumps(SHIPMENT).encode(), "invoice", None),
    ],
)
def test_unreadable_bodies_name_what_is_wrong(body: bytes, kind: str | None, field: str | None) -> None:
    with pytest.raises(UnreadableMessage) as refused:
        read_message(body, kind)
    if field is not None:
        assert field in {str(part) for error in refused.value.errors for part in error["loc"]}


def test_the_dispatcher_backs_off_exponentially_and_honours_the_supplier() -> None:
    policy = DispatchPolicy(retry_base_seconds=2, retry_max_seconds=60)
    assert [policy.retry_delay(attempt, None) for attempt in (1, 2, 3, 4, 10)] == [2, 4, 8, 16, 60]
    assert policy.retry_delay(1, 30) == 30  # Retry-After / circuit cool-down wins when longer


def test_a_suppliers_own_give_up_limits_win_over_the_gateways() -> None:
    policy = DispatchPolicy(give_up_attempts=20, give_up_seconds=86400)
    quick = Supplier("quick", "Quick", SupplierProtocol.HTTP, "http://q", "s" * 16, give_up_attempts=2)
    slow = Supplier("slow", "Slow", SupplierProtocol.HTTP, "http://s", "s" * 16, give_up_seconds=600)
    default = Supplier("plain", "Plain", SupplierProtocol.HTTP, "http://p", "s" * 16)
    assert [policy.gives_up(2, 10, supplier) for supplier in (quick, slow, default)] == [True, False, False]
    assert [policy.gives_up(3, 601, supplier) for supplier in (quick, slow, default)] == [True, True, False]
    assert policy.gives_up(20, 0, default) and policy.gives_up(1, 86400, default)
