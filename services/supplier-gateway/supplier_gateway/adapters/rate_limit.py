"""An async token-bucket rate limiter (requests per second with a burst), one per supplier."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

_EPSILON = 1e-9  # float slack, so a refill that lands a hair short does not spin forever


class TokenBucket:
    """Tokens refill at ``rate`` per second up to ``capacity``; each request takes one.

    :meth:`acquire` waits (first come, first served) until a token is available. The
    clock and sleep are injectable so tests run deterministically without real waiting.
    """

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0 requests/second")
        self.rate = float(rate)
        self.capacity = float(capacity if capacity is not None else max(rate, 1.0))
        if self.capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(now - self._updated, 0.0)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._updated = now

    @property
    def tokens(self) -> float:
        """Tokens available right now."""
        self._refill()
        return self._tokens

    def time_until_available(self, tokens: float = 1.0) -> float:
        """Seconds until ``tokens`` could be taken (0 if now)."""
        self._refill()
        missing = tokens - self._tokens
        return 0.0 if missing <= _EPSILON else missing / self.rate

    def try_acquire(self, tokens: float = 1.0) -> bool:
        """Take ``tokens`` if available now, without waiting."""
        if tokens > self.capacity:
            raise ValueError("cannot take more tokens than the bucket holds")
        if self._lock.locked():
            return False  # others are already queued: do not overtake them
        self._refill()
        if self._tokens >= tokens - _EPSILON:
            self._tokens = max(self._tokens - tokens, 0.0)
            return True
        return False

    async def acquire(self, tokens: float = 1.0) -> float:
        """Wait until ``tokens`` are available and take them; returns the seconds waited."""
        if tokens > self.capacity:
            raise ValueError("cannot take more tokens than the bucket holds")
        started = self._clock()
        async with self._lock:
            while True:
                self._refill()
                if self._tokens >= tokens - _EPSILON:
                    self._tokens = max(self._tokens - tokens, 0.0)
                    return self._clock() - started
                await self._sleep((tokens - self._tokens) / self.rate)
