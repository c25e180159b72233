"""Group commit for consumers: deliveries that arrive together are handled in one transaction.

The consumer hands each delivery to `EventBatcher.handle`, which returns only once the transaction that
carried the event committed, so every message is still acknowledged after its commit and never before.
A batch that fails is split and each of its events handled alone: a poison message fails by itself
(and is retried or dead-lettered by the consumer) while the others commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from prometheus_client import Histogram

from dropship_shared.events import Envelope

BatchHandler = Callable[[list[Envelope]], Awaitable[None]]

EVENTS_PER_TRANSACTION = Histogram(
    "consumer_events_per_transaction",
    "Deliveries handled together in one transaction (group commit); a split batch counts each retry alone",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)


class EventBatcher:
    """One handler call (one transaction) for the events waiting together, up to `max_batch` of them."""

    def __init__(self, handle_batch: BatchHandler, max_batch: int = 64) -> None:
        self._handle_batch = handle_batch
        self._max_batch = max_batch
        self._waiting: list[tuple[Envelope, asyncio.Future[None]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def handle(self, envelope: Envelope) -> None:
        """The per-delivery handler: returns when the event's transaction committed, raises if it failed."""
        committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((envelope, committed))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain(), name="event-batcher")
        await committed

    async def _drain(self) -> None:
        while self._waiting:
            # One turn of the loop: the deliveries read from the socket together join this batch.
            await asyncio.sleep(0)
            batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
            try:
                await self._run([envelope for envelope, _ in batch], [committed for _, committed in batch])
            except BaseException as exc:  # cancelled (shutdown): nobody may wait forever
                for _, committed in self._waiting:
                    _settle(committed, exc)
                self._waiting = []
                raise

    async def _run(self, envelopes: list[Envelope], waiters: list[asyncio.Future[None]]) -> None:
        EVENTS_PER_TRANSACTION.observe(len(envelopes))
        try:
            await self._handle_batch(envelopes)
        except Exception as exc:
            if len(envelopes) == 1:
                _settle(waiters[0], exc)
                return
            for envelope, committed in zip(envelopes, waiters, strict=True):
                await self._run([envelope], [committed])
            return
        except BaseException as exc:
            for committed in waiters:
                _settle(committed, exc)
            raise
        for committed in waiters:
            _settle(committed, None)


def _settle(committed: asyncio.Future[None], outcome: BaseException | None) -> None:
    if committed.done():  # the delivery's task was cancelled meanwhile (channel closed)
        return
    if outcome is None:
        committed.set_result(None)
    elif isinstance(outcome, asyncio.CancelledError):
        committed.cancel()
    else:
        committed.set_exception(outcome)
