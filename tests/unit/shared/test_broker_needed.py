"""The dead-letter, replay and backlog routes answer 503 when the broker's channel is unusable, also when aiormq
fails the pending call with a CancelledError (its channel closed under the request), but a cancellation of the
request's own task still cancels it."""

from __future__ import annotations

import asyncio

import pytest

from dropship_shared.problems import ProblemError
from dropship_shared.web import broker_needed


async def look_at_dead_letters(pending: asyncio.Future[None]) -> None:
    async with broker_needed():
        await pending  # as aiormq's call in flight when its channel closes


async def test_a_call_failed_by_its_closed_channel_is_a_503() -> None:
    pending: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    request = asyncio.create_task(look_at_dead_letters(pending))
    await asyncio.sleep(0)
    pending.cancel()  # the channel closed: aiormq cancels what was waiting on it, not the request
    with pytest.raises(ProblemError) as raised:
        await request
    assert raised.value.status == 503 and raised.value.headers == {"Retry-After": "5"}


async def test_a_cancelled_request_stays_cancelled() -> None:
    pending: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    request = asyncio.create_task(look_at_dead_letters(pending))
    await asyncio.sleep(0)
    request.cancel()  # the client went away, or the server shuts down
    with pytest.raises(asyncio.CancelledError):
        await request
    assert request.cancelled()


async def test_a_broker_error_is_a_503() -> None:
    with pytest.raises(ProblemError) as raised:
        async with broker_needed():
            raise RuntimeError("broker not connected")
    assert raised.value.status == 503
