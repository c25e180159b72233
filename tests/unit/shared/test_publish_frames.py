"""The relay's frames for a batch of publishes are the bytes aiormq would send through pamqp for the same messages
(persistent JSON, the event's ids and type, its headers), the body split at the channel's maximum content size."""

from __future__ import annotations

import pamqp.commands as spec
import pamqp.frame
from hypothesis import given
from hypothesis import strategies as st
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from dropship_shared.confirmed_publish import PARTITION_KEY, PERSISTENT, Outgoing, marshalled
from dropship_shared.tracing import TRACEPARENT


def as_pamqp_marshals(channel_number: int, max_content_size: int, exchange: str, message: Outgoing) -> bytes:
    headers = {}
    if message.traceparent:
        headers[TRACEPARENT] = message.traceparent
    if message.partition_key is not None:
        headers[PARTITION_KEY] = message.partition_key
    properties = spec.Basic.Properties(
        content_type="application/json",
        headers=headers or None,
        delivery_mode=PERSISTENT,
        correlation_id=message.correlation_id,
        message_id=message.event_id,
        message_type=message.routing_key,
    )
    body = message.body
    frames = [
        spec.Basic.Publish(exchange=exchange, routing_key=message.routing_key),
        ContentHeader(properties=properties, body_size=len(body)),
        *(ContentBody(body[n : n + max_content_size]) for n in range(0, len(body), max_content_size)),
    ]
    return b"".join(pamqp.frame.marshal(frame, channel_number) for frame in frames)


short_text = st.text(min_size=1, max_size=60)
messages = st.builds(
    Outgoing,
    routing_key=st.sampled_from(["backorder.created", "purchase_order.requested", "batch.release_expected"]),
    body=st.binary(max_size=300),
    event_id=short_text,
    correlation_id=short_text,
    traceparent=st.none() | st.just("") | st.text(max_size=80),
    partition_key=st.none() | st.text(max_size=40),
)


@given(
    batch=st.lists(messages, max_size=5),
    channel_number=st.integers(1, 2047),
    max_content_size=st.integers(1, 200),
)
def test_a_batch_is_the_bytes_pamqp_marshals_message_by_message(
    batch: list[Outgoing], channel_number: int, max_content_size: int
) -> None:
    expected = b"".join(as_pamqp_marshals(channel_number, max_content_size, "dropship", m) for m in batch)
    assert marshalled(channel_number, max_content_size, "dropship", batch) == expected


def test_the_frames_read_back_as_the_message() -> None:
    message = Outgoing("backorder.created", b"0123456789abcdef" * 10, "e-1", "c-\u00e9", "00-tp-01", "acme")
    data = marshalled(3, 64, "dropship", [message])
    frames = []
    while data:
        consumed, channel, frame = pamqp.frame.unmarshal(data)
        assert channel == 3
        frames.append(frame)
        data = data[consumed:]
    publish, header, *bodies = frames
    assert isinstance(publish, spec.Basic.Publish) and publish.routing_key == "backorder.created"
    assert isinstance(header, ContentHeader) and header.body_size == len(message.body)
    assert header.properties.headers == {TRACEPARENT: "00-tp-01", PARTITION_KEY: "acme"}
    assert (header.properties.message_id, header.properties.correlation_id) == ("e-1", "c-\u00e9")
    assert header.properties.delivery_mode == PERSISTENT
    assert [len(body.value) for body in bodies] == [64, 64, 32]
    assert b"".join(body.value for body in bodies) == message.body
