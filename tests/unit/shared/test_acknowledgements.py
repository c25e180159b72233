"""Acks asked for in the same turn of the loop go to their channel in one write, and each caller returns only
once that write was drained."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pamqp.commands as spec
import pytest
from aiormq.abc import ChannelFrame, DeliveredMessage
from pamqp import frame as amqp_frame

from dropship_shared.acknowledgements import Acknowledgements


class FakeChannel:
    """The aiormq channel fields the acks use: its writes land in `write_queue`, drained when the test says."""

    def __init__(self, number: int = 1) -> None:
        self.number = number
        self.is_closed = False
        self.write_queue: asyncio.Queue[ChannelFrame] = asyncio.Queue()

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    def acked_in_each_write(self) -> list[list[int]]:
        writes = []
        while not self.write_queue.empty():
            written = self.write_queue.get_nowait()
            writes.append(_acked_tags(written.payload))
            written.drain()
        return writes


class FakeDelivery:
    def __init__(self, channel: FakeChannel, delivery_tag: int) -> None:
        self.channel = channel
        self.delivery_tag = delivery_tag


def _acked_tags(payload: bytes) -> list[int]:
    tags = []
    while payload:
        used, _, command = amqp_frame.unmarshal(payload)
        assert isinstance(command, spec.Basic.Ack) and not command.multiple
        tags.append(command.delivery_tag)
        payload = payload[used:]
    return tags


def delivery(channel: FakeChannel, tag: int) -> DeliveredMessage:
    return cast(DeliveredMessage, FakeDelivery(channel, tag))


async def turns(count: int = 5) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def test_acks_of_one_turn_go_in_one_write_per_channel_and_return_once_drained() -> None:
    acks = Acknowledgements()
    first, second = FakeChannel(1), FakeChannel(2)
    callers = {
        (channel.number, tag): asyncio.create_task(acks.ack(delivery(channel, tag)))
        for channel, tag in [(first, 1), (first, 2), (second, 1), (first, 3)]
    }
    await turns()
    assert not any(caller.done() for caller in callers.values())  # written, not yet drained
    assert first.acked_in_each_write() == [[1, 2, 3]]
    await turns()
    assert all(callers[1, tag].done() for tag in (1, 2, 3))  # its channel's write drained
    assert not callers[2, 1].done()  # its channel's write not drained yet
    assert second.acked_in_each_write() == [[1]]
    await asyncio.gather(*callers.values())
    # a later turn: a write of its own
    later = asyncio.create_task(acks.ack(delivery(first, 4)))
    await turns()
    assert first.acked_in_each_write() == [[4]]
    await later


async def test_a_closed_channel_holds_back_no_other_channels_acks() -> None:
    acks = Acknowledgements()
    closing, open_channel = FakeChannel(1), FakeChannel(2)
    failed = asyncio.create_task(acks.ack(delivery(closing, 1)))
    acked = asyncio.create_task(acks.ack(delivery(open_channel, 7)))
    await asyncio.sleep(0)  # both acks asked for, not yet written
    closing.is_closed = True  # closed meanwhile
    await turns()
    assert open_channel.acked_in_each_write() == [[7]]
    await acked
    with pytest.raises(ConnectionError):
        await failed
    assert closing.write_queue.empty()


async def test_acks_on_a_closed_channel_fail_and_are_not_written() -> None:
    acks = Acknowledgements()
    channel = FakeChannel()
    channel.is_closed = True
    with pytest.raises(ConnectionError):
        await acks.ack(delivery(channel, 1))
    assert channel.write_queue.empty()
