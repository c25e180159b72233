"""Waiting for the system to get somewhere: poll with a generous deadline, never a fixed sleep or try count."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
DEADLINE_SECONDS = 60.0  # a busy CI machine can be slow; a passing run does not wait for it


async def eventually(
    probe: Callable[[], T | Awaitable[T]], accept: Callable[[T], bool], timeout: float = DEADLINE_SECONDS
) -> T:
    """The first value of `probe()` (a coroutine function too) that `accept` takes; fails with the last value seen
    after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        probed = probe()
        seen: T = await probed if inspect.isawaitable(probed) else probed
        if accept(seen):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout}s; last seen: {seen!r}")
        await asyncio.sleep(0.1)


async def stays(probe: Callable[[], T], accept: Callable[[T], bool], seconds: float = 3.0) -> T:
    """A negative check (nothing more happens): `accept` holds on every poll for `seconds`, long enough for
    the events in flight to arrive. On a busy machine it can only pass too easily, never fail for slowness."""
    deadline = time.monotonic() + seconds
    while True:
        seen = probe()
        assert accept(seen), seen
        if time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.2)


async def until_stalled(
    probe: Callable[[], T | Awaitable[T]],
    remaining: Callable[[T], int],
    stall_seconds: float = 90.0,
    interval: float = 1.0,
) -> T:
    """Poll `probe()` (a coroutine function too) until `remaining(value)` is 0, or until it has stopped shrinking
    for `stall_seconds`.

    For waits whose length grows with the machine's load (thousands of events to work through): a busy
    machine makes the system slow, not stuck, so only a stall ends the wait. Returns the last value seen;
    the caller asserts on it, so a failure shows what was left.
    """
    best: int | None = None
    last_progress = time.monotonic()
    while True:
        seen = probe()
        value: T = await seen if inspect.isawaitable(seen) else seen
        left = remaining(value)
        if left == 0:
            return value
        now = time.monotonic()
        if best is None or left < best:
            best, last_progress = left, now
        elif now - last_progress > stall_seconds:
            return value
        await asyncio.sleep(interval)
