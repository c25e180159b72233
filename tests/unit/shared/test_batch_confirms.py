"""A batch's confirms as aiormq's channel settles them (its own `_on_confirm_frame` and `_confirm_delivery` run on a
stand-in channel): acks and nacks message by message or several at once, the channel closing mid-wait, late confirms
ignored."""

from __future__ import annotations

import asyncio
from typing import Any

import pamqp.commands as spec
from aiormq import Channel
from aiormq.exceptions import ChannelClosed

from dropship_shared.confirmed_publish import NotConfirmed, Outgoing, publish_confirmed


class StandInChannel:
    """The fields of aiormq's Channel that publishing and confirming use."""

    publisher_confirms = True
    number = 1
    max_content_size = 1000

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.lock = asyncio.Lock()
        self.delivery_tag = 0
        self.confirmations: dict[int, Any] = {}
        self.write_queue: asyncio.Queue[Any] = asyncio.Queue()
        self.futures: list[asyncio.Future[Any]] = []

    _confirm_delivery = Channel._confirm_delivery

    def create_future(self) -> asyncio.Future[Any]:
        future = self.loop.create_future()
        self.futures.append(future)
        return future

    async def confirm(self, frame: spec.Basic.Ack | spec.Basic.Nack) -> None:
        await Channel._on_confirm_frame(self, frame)  # type: ignore[arg-type]
        await asyncio.sleep(0)  # several at once are settled on the next loop turn

    def close(self) -> None:  # as aiormq's FutureStore.reject_all does to the channel's futures
        for future in self.futures:
            if not future.done():
                future.set_exception(ChannelClosed())


def batch(count: int) -> list[Outgoing]:
    return [Outgoing("backorder.created", b"{}", f"e-{n}", f"c-{n}") for n in range(count)]


async def written(channel: StandInChannel, messages: list[Outgoing]) -> asyncio.Task[list[NotConfirmed | None]]:
    publishing = asyncio.create_task(publish_confirmed(channel, "dropship", messages, 60))  # type: ignore[arg-type]
    await channel.write_queue.get()
    return publishing


async def test_acks_at_once_and_one_by_one_confirm_their_messages() -> None:
    channel = StandInChannel()
    publishing = await written(channel, batch(4))
    await channel.confirm(spec.Basic.Ack(delivery_tag=3, multiple=True))
    assert not publishing.done()
    await channel.confirm(spec.Basic.Ack(delivery_tag=4))
    assert await publishing == [None] * 4
    assert channel.confirmations == {}


async def test_a_nack_refuses_its_message_and_the_channel_closing_ends_the_wait() -> None:
    channel = StandInChannel()
    publishing = await written(channel, batch(3))
    await channel.confirm(spec.Basic.Ack(delivery_tag=1))
    await channel.confirm(spec.Basic.Nack(delivery_tag=2))
    channel.close()
    confirmed, refused, unconfirmed = await publishing
    assert confirmed is None
    assert isinstance(refused, NotConfirmed) and "refused by the broker" in str(refused)
    assert isinstance(unconfirmed, NotConfirmed) and "channel closed" in str(unconfirmed)

    await channel.confirm(spec.Basic.Ack(delivery_tag=3))  # too late: ignored
    assert channel.confirmations == {}


async def test_the_next_batch_is_numbered_after_the_last() -> None:
    channel = StandInChannel()
    first = await written(channel, batch(2))
    second = await written(channel, batch(2))
    assert sorted(channel.confirmations) == [1, 2, 3, 4]
    await channel.confirm(spec.Basic.Ack(delivery_tag=4, multiple=True))
    assert await first == [None, None]
    assert await second == [None, None]
