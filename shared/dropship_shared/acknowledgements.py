"""Acknowledging the deliveries settled together in one socket write per channel.

A batch's deliveries are settled together (group commit: `dropship_shared.batching`) and each then acks its own
message. Acked one at a time through aio-pika, every ack is a frame of its own: queued to the connection's writer,
written with a system call of its own and drained, a future each (about a tenth of a consumer's CPU per event).
Here the acks asked for in the same turn of the loop are marshalled into one write on their channel (aiormq's,
the one the messages came on), and each caller returns once that write was drained: still after its commit, never
before. Those channel fields are not aiormq's public API (`dropship_shared.confirmed_publish` uses them likewise;
shared/pyproject.toml pins aiormq), checked by tests/integration/shared/test_messaging.py.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import cast

import pamqp.commands as spec
from aiormq import Channel
from aiormq.abc import ChannelFrame, DeliveredMessage


class Acknowledgements:
    """The acks waiting for this turn of the loop, by channel: each channel's written (and failing) on its own, so
    a channel that closed meanwhile holds back no other channel's acks."""

    def __init__(self) -> None:
        self._waiting: dict[Channel, tuple[list[int], asyncio.Future[None]]] = {}
        self._writing: set[asyncio.Task[None]] = set()  # held until done: the loop keeps only weak references

    async def ack(self, message: DeliveredMessage) -> None:
        """Acknowledge the message with the others acked in this turn; returns once written to the socket.
        Raises when its channel is closed (the broker then delivers it again)."""
        channel = cast(Channel, message.channel)
        if channel.is_closed:
            raise ConnectionError(f"{channel!r} closed: its deliveries come again")
        if message.delivery_tag is None:
            return
        waiting = self._waiting.get(channel)
        if waiting is None:
            loop = asyncio.get_running_loop()
            if not self._waiting:
                loop.call_soon(self._write_waiting)
            waiting = self._waiting[channel] = ([], loop.create_future())
        tags, written = waiting
        tags.append(message.delivery_tag)
        await asyncio.shield(written)

    def _write_waiting(self) -> None:
        waiting, self._waiting = self._waiting, {}
        for channel, (tags, written) in waiting.items():
            task = asyncio.get_running_loop().create_task(_write(channel, tags), name="acknowledgements")
            self._writing.add(task)
            task.add_done_callback(self._writing.discard)
            task.add_done_callback(partial(_settle, written))


async def _write(channel: Channel, tags: list[int]) -> None:
    if channel.is_closed:
        raise ConnectionError(f"{channel!r} closed: its deliveries come again")
    drained = channel.create_future()
    frames = [spec.Basic.Ack(delivery_tag=tag) for tag in tags]
    await channel.write_queue.put(ChannelFrame.marshall(channel.number, frames, drained))
    await drained


def _settle(written: asyncio.Future[None], done: asyncio.Task[None]) -> None:
    if written.done():
        return
    if done.cancelled():
        written.cancel()
    elif (error := done.exception()) is not None:
        written.set_exception(error)
    else:
        written.set_result(None)
