"""A dead letter as an exceptions-inbox record: whatever the dead message holds, it is filed, storable, and
names the supplier, PO and customer order only when its payload plainly says."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from dropship_shared.events import DeadLetterRecorded
from supplier_gateway.domain.supplier_exception import ExceptionKind, SupplierException, order_of

NOW = datetime(2026, 11, 29, 17, 0, tzinfo=UTC)


def recorded(body: str, message_id: str | None = "m-1") -> DeadLetterRecorded:
    return DeadLetterRecorded(
        queue="prod.orders",
        routing_key="shipment.updated",
        message_id=message_id,
        reason="handler_failed",
        error="handler failed 6 times: KeyError('x\x00')",
        body=body,
        dead_lettered_at=NOW,
    )


def test_a_readable_dead_message_names_what_it_was_about() -> None:
    body = json.dumps({"type": "backorder.created", "payload": {"supplier_id": "acme", "backorder_line_id": "O77-1"}})
    found = SupplierException.of_dead_letter(recorded(body), "n-1", NOW)
    assert (found.kind, found.supplier_id, found.order_id, found.po_number) == (
        ExceptionKind.DEAD_LETTER,
        "acme",
        "O77",
        None,
    )
    assert found.dead_letter is not None and found.dead_letter.queue == "prod.orders"
    assert "\x00" not in found.detail and "waits in prod.orders.dlq" in found.detail
    (opened,) = found.events
    assert opened.kind == "dead_letter" and opened.supplier_id == "acme"


@pytest.mark.parametrize(
    "body",
    ["{not json", '{"payload": [1, 2]}', "[]", '{"payload": {"supplier_id": 5, "po_number": "P\\u0000"}}', '{"pay'],
)
def test_an_unreadable_or_odd_dead_message_is_filed_naming_nothing(body: str) -> None:
    found = SupplierException.of_dead_letter(recorded(body, message_id=None), "n-2", NOW)
    assert (found.supplier_id, found.po_number, found.order_id) == (None, None, None)
    assert found.received is not None and "\x00" not in found.received
    assert found.dead_letter is not None and found.dead_letter.message_id is None


def test_a_rerouted_lines_id_names_its_order() -> None:
    assert [order_of(i) for i in ("O1-2", "O1-2-r1", "O1", None)] == ["O1", "O1", None, None]
