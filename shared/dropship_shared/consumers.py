"""Consumers registered on aiormq's channel under aio-pika's robust one, each delivery handed over as it came.

Through aio-pika every delivery costs a second task and an `IncomingMessage` (a dozen fields, each set through a
guarded `__setattr__`) before the handler sees it: about a tenth of a consumer's CPU per event. Here the
consumers are registered on the channel aio-pika keeps underneath (`get_underlay_channel`), whose deliveries
aiormq hands to the callback in a task of its own. The robust channel still owns the rest: it re-opens itself
and re-declares its queues and prefetch after a channel error or a lost connection (maybe on another node), and
then, from its `reopen_callbacks`, these consumers are registered again on the new channel. A consumer the broker
cancels (its queue deleted, its node gone) is registered again at once; if its queue is not there, the broker
closes the channel and the robust channel's restoring brings the consumers back with the queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import aiormq
import pamqp.commands as spec
from aio_pika.abc import AbstractRobustChannel
from aiormq.abc import DeliveredMessage

from dropship_shared.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Consumer:
    """A queue consumed under our own tag (see `messaging.consumer_tag`), with consumer arguments (priority)."""

    queue: str
    tag: str
    on_delivery: Callable[[DeliveredMessage], Coroutine[Any, Any, None]]
    arguments: Mapping[str, Any] = field(default_factory=dict)


async def consume(channel: AbstractRobustChannel, consumers: Sequence[Consumer]) -> None:
    """Register the consumers on the channel now, and again each time the robust channel re-opened."""

    async def on_reopen(*_: object) -> None:
        await _register(channel, consumers)

    await _register(channel, consumers)
    channel.reopen_callbacks.add(on_reopen)


async def _register(channel: AbstractRobustChannel, consumers: Sequence[Consumer]) -> None:
    underlay = cast(aiormq.Channel, await channel.get_underlay_channel())
    by_tag = {consumer.tag: consumer for consumer in consumers}
    again: set[asyncio.Task[None]] = set()  # held until done: the loop keeps only weak references to tasks

    def on_cancel(frame: spec.Basic.Cancel) -> None:
        cancelled = by_tag.get(frame.consumer_tag or "")
        if cancelled is not None and not underlay.is_closed:
            log.warning("consumer cancelled by the broker; consuming again", queue=cancelled.queue)
            task = asyncio.get_running_loop().create_task(_basic_consume(underlay, cancelled))
            again.add(task)
            task.add_done_callback(again.discard)
            task.add_done_callback(_note_failure)

    underlay.on_consumer_cancel_callbacks.add(on_cancel)
    for consumer in consumers:
        await _basic_consume(underlay, consumer)


async def _basic_consume(underlay: aiormq.Channel, consumer: Consumer) -> None:
    await underlay.basic_consume(
        consumer.queue, consumer.on_delivery, consumer_tag=consumer.tag, arguments=dict(consumer.arguments)
    )


def _note_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        # The channel closed with it; the robust channel re-opens and registers the consumers again.
        log.warning("consuming again failed", error=repr(task.exception()))
