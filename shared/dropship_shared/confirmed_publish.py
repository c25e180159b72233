"""Publishing many messages at once with publisher confirms: their frames in one socket write, their confirms
awaited together.

aio-pika publishes one message per call: a task's worth of work for each (a lock, a write queued to the
connection's writer, a socket write and a drain, a future for the confirm). The outbox relay publishes
hundreds at a time, so it marshals the frames of all of them into one write on the channel aio-pika keeps
(aiormq's, under its lock, numbering each publish as the broker does) and waits once for all their confirms.
The frames are built from bytes (`marshalled`), and the channel settles each publish's confirm through a `_Confirm`
of the batch rather than a future of its own. Those channel fields and that duck-typed entry are not aiormq's public
API: shared/pyproject.toml pins aiormq to the minor release this was written and tested against
(tests/unit/shared/test_batch_confirms.py, tests/integration/shared/test_confirmed_publish.py), to be checked again
on an upgrade.
"""

from __future__ import annotations

import asyncio
import functools
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import pamqp.commands as spec
import pamqp.frame
from aiormq import Channel
from aiormq.abc import ChannelFrame

from dropship_shared.tracing import TRACEPARENT

PERSISTENT = 2  # AMQP delivery mode: written to disk by the broker
# The message header the consistent-hash exchange hashes on: the event's supplier.
PARTITION_KEY = "partition-key"

# The wire format of AMQP 0-9-1 (the spec's section 4.2): a frame is its type, channel and payload size, the
# payload, and a frame-end octet; a content header is the class, a weight of 0, the body size, the property
# flags and the properties present, in the order of their flags.
_FRAME_HEAD = struct.Struct(">BHI")
_FRAME_END = b"\xce"
_CONTENT_HEADER_FRAME = 2
_BODY_FRAME = 3
_CONTENT_HEADER_START = struct.pack(">HH", spec.Basic.frame_id, 0)
_SIZE_AND_FLAGS = struct.Struct(">QH")
_HEADERS = 0x2000
# content type, delivery mode, correlation id, message id, type (no priority: 0 is what the broker assumes)
_PROPERTIES = 0x8000 | 0x1000 | 0x0400 | 0x0080 | 0x0020
_JSON = b"\x10application/json"
_PERSISTENT = bytes((PERSISTENT,))
_LONG_STRING_SIZE = struct.Struct(">I")
_LONG_STRING_HEAD = struct.Struct(">cI")


class NotConfirmed(RuntimeError):
    """The broker did not confirm a message in time, or refused it (nack), or its channel closed first."""


@dataclass(frozen=True)
class Outgoing:
    """An event to publish persistently: its body as stored, and what goes in the message's properties."""

    routing_key: str
    body: bytes
    event_id: str
    correlation_id: str
    traceparent: str | None = None  # the W3C header of that name, where consumers continue the trace
    partition_key: str | None = None  # the header partitioned subscriptions hash on

    def content_header(self) -> bytes:
        """The payload of the message's content header frame: persistent JSON, its event id, correlation id and
        type (its routing key), and the headers it has (none is an absent table, not an empty one)."""
        flags = _PROPERTIES
        headers = b""
        if self.traceparent or self.partition_key is not None:
            flags |= _HEADERS
            headers = _headers_table(self.traceparent, self.partition_key)
        return b"".join(
            (
                _CONTENT_HEADER_START,
                _SIZE_AND_FLAGS.pack(len(self.body), flags),
                _JSON,
                headers,
                _PERSISTENT,
                _short_string(self.correlation_id),
                _short_string(self.event_id),
                _event_type(self.routing_key),
            )
        )


async def publish_confirmed(
    channel: Channel, exchange: str, messages: Sequence[Outgoing], confirm_within: float
) -> list[NotConfirmed | None]:
    """Publish the messages (one socket write) and wait for their confirms, `confirm_within` seconds at most in all:
    for each message None if the broker confirmed it, else why not. A channel without confirms is refused."""
    if not channel.publisher_confirms:
        raise ValueError("publish_confirmed needs a channel with publisher confirms")
    if not messages:
        return []
    deadline = asyncio.get_running_loop().time() + confirm_within
    try:
        async with asyncio.timeout_at(deadline):  # the writer may be held back (the broker blocked publishers)
            confirms = await _write(channel, exchange, messages)
    except TimeoutError:
        return [NotConfirmed("not written to the broker in time")] * len(messages)
    await asyncio.wait([confirms.all_settled], timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
    return confirms.outcomes()


class _BatchConfirms:
    """The confirms of one batch of publishes, settled one by one by the channel through `_Confirm`s, awaited as
    one future: one of aiormq's futures per message costs four callbacks and loop turns to settle and be waited
    for, a third of the relay's CPU per event. The future is the channel's (`create_future`), so the channel
    closing rejects it and stops the wait, as it rejected each message's future before."""

    def __init__(self, channel: Channel, count: int) -> None:
        self.all_settled: asyncio.Future[None] = channel.create_future()
        self._outcomes: list[NotConfirmed | _Unsettled | None] = [_UNSETTLED] * count
        self._unsettled = count

    def settled(self, index: int) -> bool:
        return self._outcomes[index] is not _UNSETTLED or self.all_settled.done()

    def settle(self, index: int, outcome: NotConfirmed | None) -> None:
        if self.settled(index):
            return
        self._outcomes[index] = outcome
        self._unsettled -= 1
        if not self._unsettled:
            self.all_settled.set_result(None)

    def outcomes(self) -> list[NotConfirmed | None]:
        """None for each message the broker confirmed, else why not; from now on a confirm is ignored."""
        if not self.all_settled.done():
            self.all_settled.cancel()
        why = "no confirm from the broker in time, or the channel closed"
        if not self.all_settled.cancelled() and self.all_settled.exception() is not None:
            why = f"the channel closed: {self.all_settled.exception()!r}"
        return [NotConfirmed(why) if isinstance(o, _Unsettled) else o for o in self._outcomes]


class _Unsettled:
    """A message with neither a confirm nor a refusal yet."""


_UNSETTLED = _Unsettled()


class _Confirm:
    """What the channel keeps for a publish's delivery tag, in place of a future: aiormq's `_confirm_delivery`
    asks it `done()` (and, if so, `cancelled()`, to log a late confirm at debug level) and calls `set_result` on an
    ack or `set_exception` on a nack."""

    __slots__ = ("_batch", "_index")

    def __init__(self, batch: _BatchConfirms, index: int) -> None:
        self._batch = batch
        self._index = index

    def done(self) -> bool:
        return self._batch.settled(self._index)

    def cancelled(self) -> bool:
        return self.done()

    def set_result(self, _frame: object) -> None:
        self._batch.settle(self._index, None)

    def set_exception(self, error: BaseException) -> None:
        self._batch.settle(self._index, NotConfirmed(f"refused by the broker: {error!r}"))


async def _write(channel: Channel, exchange: str, messages: Sequence[Outgoing]) -> _BatchConfirms:
    """The messages' frames in one write, each with the `_Confirm` its confirm will settle, numbered as the broker
    numbers the publishes of the channel (one after another from the channel's last one)."""
    payload = ChannelFrame(
        payload=marshalled(channel.number, channel.max_content_size, exchange, messages), should_close=False
    )
    async with channel.lock:
        first = channel.delivery_tag + 1
        confirms = _BatchConfirms(channel, len(messages))
        confirmations = cast(dict[int, Any], channel.confirmations)
        for index in range(len(messages)):
            confirmations[first + index] = _Confirm(confirms, index)
        channel.delivery_tag += len(messages)
        try:
            await channel.write_queue.put(payload)
        except BaseException:  # not queued (cancelled while the writer was behind): the broker never saw them
            channel.delivery_tag -= len(messages)
            for index in range(len(messages)):
                confirmations.pop(first + index, None)
            confirms.all_settled.cancel()
            raise
    return confirms


def marshalled(channel_number: int, max_content_size: int, exchange: str, messages: Sequence[Outgoing]) -> bytes:
    """The frames publishing the messages on the channel, as aiormq marshals them through pamqp but built straight
    from bytes: pamqp's generic encoding of a publish (its objects, the type of each property looked up and
    encoded) was most of the relay's CPU per event. The body goes in frames of at most `max_content_size` bytes."""
    parts: list[bytes] = []
    for message in messages:
        parts.append(_publish_method(channel_number, exchange, message.routing_key))
        header = message.content_header()
        parts += (_FRAME_HEAD.pack(_CONTENT_HEADER_FRAME, channel_number, len(header)), header, _FRAME_END)
        body = message.body
        for start in range(0, len(body), max_content_size):
            chunk = body[start : start + max_content_size]
            parts += (_FRAME_HEAD.pack(_BODY_FRAME, channel_number, len(chunk)), chunk, _FRAME_END)
    return b"".join(parts)


@functools.lru_cache(maxsize=256)
def _publish_method(channel_number: int, exchange: str, routing_key: str) -> bytes:
    """The method frame of a Basic.Publish (neither mandatory nor immediate): the same for every event of a type."""
    frame: bytes = pamqp.frame.marshal(spec.Basic.Publish(exchange=exchange, routing_key=routing_key), channel_number)
    return frame


@functools.lru_cache(maxsize=256)
def _event_type(routing_key: str) -> bytes:
    return _short_string(routing_key)


def _short_string(text: str) -> bytes:
    raw = text.encode()
    if len(raw) > 255:
        raise ValueError(f"too long for an AMQP short string: {text[:40]!r}...")
    return bytes((len(raw),)) + raw


def _headers_table(traceparent: str | None, partition_key: str | None) -> bytes:
    """An AMQP field table of the message's headers, each a long string (`S`) as pamqp encodes a str."""
    fields = []  # in the order of their names, as pamqp puts them
    if partition_key is not None:
        fields.append(_header(PARTITION_KEY, partition_key))
    if traceparent:
        fields.append(_header(TRACEPARENT, traceparent))
    table = b"".join(fields)
    return _LONG_STRING_SIZE.pack(len(table)) + table


def _header(name: str, value: str) -> bytes:
    raw = value.encode()
    return _header_name(name) + _LONG_STRING_HEAD.pack(b"S", len(raw)) + raw


@functools.lru_cache(maxsize=8)
def _header_name(name: str) -> bytes:
    return _short_string(name)
