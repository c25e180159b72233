"""Group commit: work that arrives together is handled in one transaction (consumers' deliveries, intake).

A caller hands each item to `GroupCommit.submit`, which returns only once the transaction that carried the
item committed, so a delivery is still acknowledged (or a request answered) after its commit and never
before. The batch handler answers each item's own outcome: a result, or the exception of an item refused
for its own content while the others commit. A batch that fails as a whole is split and each of its items
handled alone: a poison item fails by itself (and is retried or dead-lettered by the consumer) while the
others commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from opentelemetry.trace import SpanContext
from prometheus_client import Histogram

from dropship_shared.events import Envelope
from dropship_shared.tracing import current_span_context, transaction_of

Item = TypeVar("Item")
Result = TypeVar("Result")
BatchHandler = Callable[[list[Envelope]], Awaitable[None]]

EVENTS_PER_TRANSACTION = Histogram(
    "consumer_events_per_transaction",
    "Deliveries handled together in one transaction (group commit); a split batch counts each retry alone",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)


class GroupCommit(Generic[Item, Result]):
    """One handler call (one transaction) for the items waiting together, up to `max_batch` of them."""

    def __init__(
        self,
        handle_batch: Callable[[list[Item]], Awaitable[Sequence[Result | Exception]]],
        max_batch: int = 64,
        sizes: Histogram | None = None,
        name: str = "group commit",
        correlation_of: Callable[[Item], str] = lambda _: "",
    ) -> None:
        self._handle_batch = handle_batch
        self._name = name
        self._correlation_of = correlation_of
        self._max_batch = max_batch
        self._sizes = sizes
        # each item with the future its caller waits on, and its correlation id and span (tracing)
        self._waiting: list[tuple[Item, asyncio.Future[Result], tuple[str, SpanContext | None]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """The item's outcome once its transaction committed; raises what the item failed with."""
        committed: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, committed, (self._correlation_of(item), current_span_context())))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain(), name="group-commit")
        return await committed

    async def _drain(self) -> None:
        while self._waiting:
            # One turn of the loop: the items that arrived together (read from the socket together, or
            # while the last transaction ran) join this batch.
            await asyncio.sleep(0)
            batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
            try:
                # The batch's span continues the first item's trace and links the others'; each item's events
                # carry its own span (one trace per order).
                with transaction_of(self._name, [cause for _, _, cause in batch]):
                    await self._run([item for item, _, _ in batch], [committed for _, committed, _ in batch])
            except BaseException as exc:  # cancelled (shutdown): nobody may wait forever
                for _, committed, _ in self._waiting:
                    _settle(committed, exc)
                self._waiting = []
                raise

    async def _run(self, items: list[Item], waiters: list[asyncio.Future[Result]]) -> None:
        if self._sizes is not None:
            self._sizes.observe(len(items))
        try:
            outcomes = await self._handle_batch(items)
        except Exception as exc:
            if len(items) == 1:
                _settle(waiters[0], exc)
                return
            for item, committed in zip(items, waiters, strict=True):
                await self._run([item], [committed])
            return
        except BaseException as exc:
            for committed in waiters:
                _settle(committed, exc)
            raise
        for committed, outcome in zip(waiters, outcomes, strict=True):
            _settle(committed, outcome)


class EventBatcher:
    """Group commit for a consumer: the deliveries waiting together go to one batch handler call."""

    def __init__(self, handle_batch: BatchHandler, max_batch: int = 64) -> None:
        async def handle_all(envelopes: list[Envelope]) -> list[None]:
            await handle_batch(envelopes)
            return [None] * len(envelopes)

        self._group: GroupCommit[Envelope, None] = GroupCommit(
            handle_all, max_batch, EVENTS_PER_TRANSACTION, "events transaction", lambda event: event.correlation_id
        )

    async def handle(self, envelope: Envelope) -> None:
        """The per-delivery handler: returns when the event's transaction committed, raises if it failed."""
        await self._group.submit(envelope)


def _settle(committed: asyncio.Future[Result], outcome: Result | BaseException) -> None:
    if committed.done():  # the caller's task was cancelled meanwhile (channel closed, client gone)
        return
    if isinstance(outcome, asyncio.CancelledError):
        committed.cancel()
    elif isinstance(outcome, BaseException):
        committed.set_exception(outcome)
    else:
        committed.set_result(outcome)
