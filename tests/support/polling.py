"""Waiting for the system to get somewhere: poll with a generous deadline, never a fixed sleep or try count."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
DEADLINE_SECONDS = 60.0  # a busy CI machine can be slow; a passing run does not wait for it


async def eventually(probe: Callable[[], T], accept: Callable[[T], bool], timeout: float = DEADLINE_SECONDS) -> T:
    """The first value of `probe()` that `accept` takes; fails with the last value seen after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        seen = probe()
        if accept(seen):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout}s; last seen: {seen!r}")
        await asyncio.sleep(0.1)
