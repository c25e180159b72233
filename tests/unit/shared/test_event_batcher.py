"""Group commit: concurrent deliveries share one handler call, a poison event fails alone, an item refused
for its own content fails without splitting the batch."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from dropship_shared.batching import EventBatcher, GroupCommit
from dropship_shared.events import BackorderCancelled, Envelope


def event(line_id: str) -> Envelope:
    return Envelope.wrap(BackorderCancelled(backorder_line_id=line_id, supplier_id="acme"), "test")


class Recorder:
    """A batch handler that notes each call's line ids and refuses any batch holding the poison line."""

    def __init__(self, poison: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.committed: set[str] = set()
        self._poison = poison

    async def __call__(self, envelopes: list[Envelope]) -> None:
        ids = [str(envelope.payload["backorder_line_id"]) for envelope in envelopes]
        self.batches.append(ids)
        await asyncio.sleep(0)  # a transaction takes a while
        if self._poison in ids:
            raise ValueError("poison")
        self.committed.update(ids)


async def test_deliveries_arriving_together_share_one_call_and_return_after_it() -> None:
    handler = Recorder()
    batcher = EventBatcher(handler, max_batch=3)
    ids = ["a", "b", "c", "d", "e"]
    transactions_before = REGISTRY.get_sample_value("consumer_events_per_transaction_count") or 0.0

    async def deliver(line_id: str) -> bool:
        await batcher.handle(event(line_id))
        return line_id in handler.committed  # handle() returns only once its batch committed

    assert await asyncio.gather(*(deliver(line_id) for line_id in ids)) == [True] * 5
    assert handler.batches == [["a", "b", "c"], ["d", "e"]]
    assert REGISTRY.get_sample_value("consumer_events_per_transaction_count") == transactions_before + 2


async def test_a_poison_event_fails_alone_and_the_others_commit() -> None:
    handler = Recorder(poison="b")
    batcher = EventBatcher(handler)
    outcomes = await asyncio.gather(*(batcher.handle(event(i)) for i in ("a", "b", "c")), return_exceptions=True)
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], ValueError)
    assert handler.batches == [["a", "b", "c"], ["a"], ["b"], ["c"]]
    assert handler.committed == {"a", "c"}


async def test_a_lone_failure_reaches_its_delivery() -> None:
    batcher = EventBatcher(Recorder(poison="x"))
    with pytest.raises(ValueError):
        await batcher.handle(event("x"))
    await batcher.handle(event("y"))  # the batcher keeps working after a failure


async def test_an_item_refused_for_itself_fails_alone_without_splitting_the_batch() -> None:
    calls: list[list[int]] = []

    async def place(items: list[int]) -> list[int | Exception]:
        calls.append(items)
        return [ValueError(f"{item} refused") if item < 0 else item * 10 for item in items]

    group: GroupCommit[int, int] = GroupCommit(place)
    outcomes = await asyncio.gather(*(group.submit(item) for item in (1, -2, 3)), return_exceptions=True)
    assert outcomes[0] == 10 and outcomes[2] == 30
    assert isinstance(outcomes[1], ValueError)
    assert calls == [[1, -2, 3]]  # one transaction: the refused item did not fail the others
