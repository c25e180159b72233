"""How a customer-message sender of its own learns that messages were stored: PostgreSQL's notifications
(migration 0012 notifies on every statement storing messages), or on SQLite, which has none, a look every few
tens of milliseconds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from dropship_shared.db import create_postgres_pool, is_sqlite
from dropship_shared.logs import get_logger
from dropship_shared.runtime import BackgroundLoop

log = get_logger(__name__)

CHANNEL = "customer_messages"  # migration 0012's trigger notifies it
CHECK_SECONDS = 5.0  # how often the listening connection is checked


class ListenerLost(ConnectionError):
    """The connection listening for stored messages closed: the runtime listens again on a new one."""


def message_signals(database_url: str, wake: Callable[[], None], poll_seconds: float) -> BackgroundLoop:
    """The background loop that calls `wake` whenever messages may have been stored."""
    if is_sqlite(database_url):
        return lambda: look_every(poll_seconds, wake)
    return lambda: listen_for_messages(database_url, wake)


async def look_every(seconds: float, wake: Callable[[], None]) -> None:
    """SQLite: wakes the sender every `seconds`; a claim that finds nothing is one indexed statement."""
    while True:
        await asyncio.sleep(seconds)
        wake()


async def listen_for_messages(database_url: str, wake: Callable[[], None]) -> None:
    """PostgreSQL: LISTEN on a connection of its own and wake the sender on each notification, delivered when
    the storing transaction commits. Wakes once when listening starts, for what was stored before (or while a
    lost connection was being replaced). Raises ListenerLost when the connection closes."""
    engine = create_postgres_pool(database_url, pool_size=1, autocommit=True)
    lost = asyncio.Event()
    try:
        async with engine.connect() as connection:
            listening: Any = (await connection.get_raw_connection()).driver_connection  # asyncpg's own connection
            listening.add_termination_listener(lambda _connection: lost.set())
            await listening.add_listener(CHANNEL, lambda *_notification: wake())
            log.info("listening for stored customer messages", channel=CHANNEL)
            wake()
            while not listening.is_closed():  # a lost connection is not always reported to the listener
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), timeout=CHECK_SECONDS)
    finally:
        await engine.dispose()
    raise ListenerLost("the connection listening for stored customer messages closed")
