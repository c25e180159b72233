"""A small per-supplier circuit breaker: closed → open after N failures → half-open after a cool-down."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class CircuitState(StrEnum):
    """The three breaker states."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts consecutive failures of calls to one dependency and stops calls while it is down.

    Protocol: call :meth:`allow_request` before each call; if it returns ``True`` report
    the outcome with exactly one of :meth:`record_success`, :meth:`record_failure` or
    :meth:`release` (call abandoned, e.g. cancelled). While open, ``allow_request``
    returns ``False`` until ``reset_timeout`` seconds passed; then up to
    ``half_open_max_calls`` trial calls go through: a success closes the breaker, a
    failure opens it again for another cool-down. Not thread-safe; meant for one event loop.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        *,
        half_open_max_calls: int = 1,
        clock: Callable[[], float] = time.monotonic,
        name: str = "",
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if reset_timeout < 0:
            raise ValueError("reset_timeout must be >= 0")
        if half_open_max_calls < 1:
            raise ValueError("half_open_max_calls must be >= 1")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.half_open_max_calls = half_open_max_calls
        self.name = name
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trials = 0

    @property
    def state(self) -> CircuitState:
        """Current state (an open breaker past its cool-down reports half-open)."""
        if self._state is CircuitState.OPEN and self._clock() - self._opened_at >= self.reset_timeout:
            self._state = CircuitState.HALF_OPEN
            self._trials = 0
        return self._state

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success."""
        return self._failures

    def retry_after(self) -> float:
        """Seconds until an open breaker lets a trial call through (0 when not open)."""
        if self.state is not CircuitState.OPEN:
            return 0.0
        return max(self.reset_timeout - (self._clock() - self._opened_at), 0.0)

    def allow_request(self) -> bool:
        """Whether a call may go ahead now (reserves a trial slot when half-open)."""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and self._trials < self.half_open_max_calls:
            self._trials += 1
            return True
        return False

    def record_success(self) -> None:
        """The call succeeded: close the breaker."""
        self._failures = 0
        self._trials = 0
        self._state = CircuitState.CLOSED

    def record_failure(self) -> None:
        """The call failed: count it, open the breaker at the threshold or on a failed trial."""
        self._failures += 1
        state = self.state
        if state is CircuitState.HALF_OPEN or (
            state is CircuitState.CLOSED and self._failures >= self.failure_threshold
        ):
            self._open()

    def release(self) -> None:
        """The call was abandoned without an outcome: give back its half-open trial slot."""
        if self._state is CircuitState.HALF_OPEN and self._trials > 0:
            self._trials -= 1

    def reset(self) -> None:
        """Force the breaker closed."""
        self.record_success()

    def _open(self) -> None:
        self._state = CircuitState.OPEN
        self._opened_at = self._clock()
        self._trials = 0

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self.name!r}, state={self.state.value}, failures={self._failures})"
