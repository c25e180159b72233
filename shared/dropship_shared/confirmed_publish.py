"""Publishing many messages at once with publisher confirms: their frames in one socket write, their confirms
awaited together.

aio-pika publishes one message per call: a task's worth of work for each (a lock, a write queued to the
connection's writer, a socket write and a drain, a future for the confirm). The outbox relay publishes
hundreds at a time, so it marshals the frames of all of them into one write on the channel aio-pika keeps
(aiormq's, under its lock, numbering each publish as the broker does) and waits once for all their confirms.
Those channel fields are not aiormq's public API: shared/pyproject.toml pins aiormq to the minor release this was
written and tested against (tests/integration/shared/test_confirmed_publish.py), to be checked again on an upgrade.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pamqp.commands as spec
from aiormq import Channel
from aiormq.abc import ChannelFrame
from pamqp.header import ContentHeader

from dropship_shared.tracing import TRACEPARENT

PERSISTENT = 2  # AMQP delivery mode: written to disk by the broker
# The message header the consistent-hash exchange hashes on: the event's supplier.
PARTITION_KEY = "partition-key"


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

    def properties(self) -> spec.Basic.Properties:
        """The properties `aio_pika.Message` gives such a message (persistent JSON, typed by its routing key)."""
        headers: dict[str, Any] = {}
        if self.traceparent:
            headers[TRACEPARENT] = self.traceparent
        if self.partition_key is not None:
            headers[PARTITION_KEY] = self.partition_key
        return spec.Basic.Properties(
            content_type="application/json",
            headers=headers,
            delivery_mode=PERSISTENT,
            priority=0,
            correlation_id=self.correlation_id,
            message_id=self.event_id,
            message_type=self.routing_key,
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
    _, unconfirmed = await asyncio.wait(confirms, timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
    for confirm in unconfirmed:
        confirm.cancel()  # a confirm coming later is ignored by the channel
    return [_outcome(confirm) for confirm in confirms]


async def _write(channel: Channel, exchange: str, messages: Sequence[Outgoing]) -> list[asyncio.Future[Any]]:
    """The messages' frames in one write; each with the future its confirm will settle, numbered as the broker
    numbers the publishes of the channel (one after another from the channel's last one)."""
    frames: list[Any] = []
    for message in messages:
        frames.append(spec.Basic.Publish(exchange=exchange, routing_key=message.routing_key))
        frames.append(ContentHeader(properties=message.properties(), body_size=len(message.body)))
        frames += channel._split_body(message.body)
    payload = ChannelFrame.marshall(channel_number=channel.number, frames=frames)
    async with channel.lock:
        first = channel.delivery_tag + 1
        confirms = [channel.create_future() for _ in messages]
        for tag, confirm in enumerate(confirms, start=first):
            channel.confirmations[tag] = confirm
        channel.delivery_tag += len(messages)
        try:
            await channel.write_queue.put(payload)
        except BaseException:  # not queued (cancelled while the writer was behind): the broker never saw them
            channel.delivery_tag -= len(messages)
            for tag, confirm in enumerate(confirms, start=first):
                channel.confirmations.pop(tag, None)
                confirm.cancel()
            raise
    return confirms


def _outcome(confirm: asyncio.Future[Any]) -> NotConfirmed | None:
    if confirm.cancelled():
        return NotConfirmed("no confirm from the broker in time, or the channel closed")
    error = confirm.exception()
    if error is not None:
        return NotConfirmed(f"refused by the broker: {error!r}")
    return None
