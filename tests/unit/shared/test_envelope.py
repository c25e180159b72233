"""The envelope's payload is validated once on delivery: the handlers take the typed payload validated then."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dropship_shared.events import BackorderCancelled, BackorderCreated, Envelope, EventError


def delivered() -> Envelope:
    sent = Envelope.wrap(BackorderCancelled(backorder_line_id="o1-1", supplier_id="acme"), "c1")
    return Envelope.from_bytes(sent.to_bytes())


def test_a_delivered_payload_is_the_one_validated_on_delivery() -> None:
    envelope = delivered()
    payload = envelope.payload_as(BackorderCancelled)
    assert payload == BackorderCancelled(backorder_line_id="o1-1", supplier_id="acme")
    assert envelope.payload_as(BackorderCancelled) is payload  # not validated again


def test_a_payload_read_as_another_model_or_replaced_in_a_copy_is_validated_again() -> None:
    envelope = delivered()
    with pytest.raises(ValidationError):
        envelope.payload_as(BackorderCreated)
    with pytest.raises(ValidationError):
        envelope.model_copy(update={"payload": {"backorder_line_id": 5}}).payload_as(BackorderCancelled)


def test_an_envelope_equals_its_content_whether_or_not_validated() -> None:
    envelope = delivered()
    assert envelope == Envelope.model_validate_json(envelope.to_bytes())
    assert envelope != envelope.model_copy(update={"correlation_id": "c2"})


def test_an_invalid_payload_is_refused_on_delivery() -> None:
    body = Envelope(type="backorder.cancelled", correlation_id="c1", payload={"backorder_line_id": 5}).to_bytes()
    with pytest.raises(EventError, match=r"invalid backorder\.cancelled payload"):
        Envelope.from_bytes(body)
