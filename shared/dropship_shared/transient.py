"""Passing database conflicts (deadlock, serialization failure, lock timeout, a busy SQLite file, a dropped
connection) told apart from real failures, and retried in place with a short jittered backoff."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_never, wait_random_exponential

from dropship_shared.logs import get_logger
from dropship_shared.metrics import TRANSIENT_DATABASE_RETRIES

log = get_logger(__name__)

T = TypeVar("T")

# PostgreSQL SQLSTATEs of a conflict that a fresh transaction resolves.
TRANSIENT_SQLSTATES = {
    "40P01": "deadlock",
    "40001": "serialization_failure",
    "55P03": "lock_timeout",
}
SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")


def transient_kind(exc: BaseException) -> str | None:
    """What kind of passing conflict `exc` (or an exception it was raised from) is; None for a real failure."""
    for error in _chain(exc):
        if isinstance(error, PoolTimeout):
            return "pool_timeout"
        if not isinstance(error, DBAPIError):
            continue
        if error.connection_invalidated:
            return "connection_lost"
        sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        if sqlstate in TRANSIENT_SQLSTATES:
            return TRANSIENT_SQLSTATES[sqlstate]
        if any(text in str(error.orig).lower() for text in SQLITE_BUSY):
            return "sqlite_busy"
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


async def retry_transient(
    operation: Callable[[], Awaitable[T]], what: str, first_wait: float = 0.02, max_wait: float = 1.0
) -> T:
    """Run `operation` (which opens its own transaction) until it ends other than by a passing conflict.

    Conflicts always clear (PostgreSQL aborts one side of a deadlock, locks are released), so there is
    no attempt limit: a conflict never turns into a failure of the work itself. The first attempt runs
    bare (almost every one succeeds; the retry machinery costs about as much as a small statement), the
    retries after a conflict under tenacity with a jittered, growing wait."""
    try:
        return await operation()
    except Exception as exc:
        kind = transient_kind(exc)
        if kind is None:
            raise
        _note(what, kind, 1)

    def note(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        _note(what, transient_kind(error) if error else None, state.attempt_number + 1)

    retrying = AsyncRetrying(
        retry=retry_if_exception(lambda exc: transient_kind(exc) is not None),
        wait=wait_random_exponential(multiplier=first_wait, max=max_wait),
        stop=stop_never,
        before_sleep=note,
        reraise=True,
    )

    async def attempt() -> T:  # tenacity awaits only what a coroutine function returns
        return await operation()

    await asyncio.sleep(random.uniform(0, first_wait))
    return await retrying(attempt)


def _note(what: str, kind: str | None, attempt: int) -> None:
    TRANSIENT_DATABASE_RETRIES.labels(what, kind or "unknown").inc()
    log.info("transient database conflict; retrying", what=what, kind=kind, attempt=attempt)
