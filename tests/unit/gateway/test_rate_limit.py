"""Token bucket rate limiter, deterministic with an injected clock and sleep."""

from __future__ import annotations

import asyncio

import pytest

from supplier_gateway.adapters.rate_limit import TokenBucket


class FakeTime:
    """A clock whose sleep advances time instantly and records every wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def test_burst_then_refill(fake: FakeTime) -> None:
    bucket = TokenBucket(rate=2, capacity=3, clock=fake.clock, sleep=fake.sleep)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert bucket.time_until_available() == pytest.approx(0.5)
    fake.now += 0.5
    assert bucket.try_acquire()
    assert not bucket.try_acquire()
    fake.now += 100
    assert bucket.tokens == pytest.approx(3)  # never above capacity


def test_default_capacity_is_one_second_of_rate(fake: FakeTime) -> None:
    assert TokenBucket(rate=5, clock=fake.clock).capacity == 5
    assert TokenBucket(rate=0.5, clock=fake.clock).capacity == 1


async def test_acquire_waits_for_the_next_token(fake: FakeTime) -> None:
    bucket = TokenBucket(rate=4, capacity=1, clock=fake.clock, sleep=fake.sleep)
    assert await bucket.acquire() == 0
    waited = await bucket.acquire()
    assert waited == pytest.approx(0.25)
    assert fake.sleeps == [pytest.approx(0.25)]


async def test_sustained_rate_is_respected(fake: FakeTime) -> None:
    bucket = TokenBucket(rate=10, capacity=2, clock=fake.clock, sleep=fake.sleep)
    for _ in range(22):
        await bucket.acquire()
    # 2 from the burst, then 20 at 10/s
    assert fake.now == pytest.approx(2.0)


async def test_concurrent_waiters_are_served_in_order_at_the_rate(fake: FakeTime) -> None:
    bucket = TokenBucket(rate=2, capacity=1, clock=fake.clock, sleep=fake.sleep)
    served: list[tuple[int, float]] = []

    async def worker(n: int) -> None:
        await bucket.acquire()
        served.append((n, fake.now))

    await asyncio.gather(*(worker(n) for n in range(5)))
    assert [n for n, _ in served] == [0, 1, 2, 3, 4]
    assert [t for _, t in served] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0])


async def test_try_acquire_does_not_overtake_queued_waiters(fake: FakeTime) -> None:
    gate = asyncio.Event()

    async def slow_sleep(seconds: float) -> None:
        await gate.wait()
        fake.now += seconds

    bucket = TokenBucket(rate=1, capacity=1, clock=fake.clock, sleep=slow_sleep)
    assert bucket.try_acquire()
    waiter = asyncio.create_task(bucket.acquire())
    await asyncio.sleep(0)
    fake.now += 5  # a token is due, but the waiter is first in line
    assert not bucket.try_acquire()
    gate.set()
    await waiter


@pytest.mark.parametrize(("rate", "capacity"), [(0, None), (-1, None), (1, 0.5)])
def test_rejects_nonsense_settings(rate: float, capacity: float | None) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=rate, capacity=capacity)


async def test_cannot_ask_for_more_than_capacity(fake: FakeTime) -> None:
    bucket = TokenBucket(rate=1, capacity=2, clock=fake.clock, sleep=fake.sleep)
    with pytest.raises(ValueError):
        await bucket.acquire(3)
