"""A SQLite write transaction waits for another process's writer in steps of a millisecond
(`sqlite_driver._begin_immediate`), not in SQLite's busy handler, whose tries come 1, 2, 5 ... 100 ms apart and
miss the moments a writer committing back to back leaves the lock free; and it still gives up after the busy
timeout, with the busy timeout of the connection as it was."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from dropship_shared import sqlite_driver
from dropship_shared.db import create_engine
from dropship_shared.sqlite_driver import BUSY_TIMEOUT_MS, _begin_immediate


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return connection


@contextmanager
def write_lock_held(path: Path, seconds: float) -> Iterator[None]:
    """Another writer (its own connection and thread, as another process would be) holds the write lock for
    `seconds` from the moment the block starts."""
    holder = connect(path)
    holder.execute("BEGIN IMMEDIATE")

    def release() -> None:
        time.sleep(seconds)
        holder.execute("COMMIT")

    releaser = threading.Thread(target=release)
    releaser.start()
    try:
        yield
    finally:
        releaser.join()
        holder.close()


def begin_attempts(connection: sqlite3.Connection) -> list[float]:
    """When each BEGIN IMMEDIATE was tried on this connection."""
    attempts: list[float] = []
    connection.set_trace_callback(lambda sql: attempts.append(time.monotonic()) if sql == "BEGIN IMMEDIATE" else None)
    return attempts


def test_a_writer_tries_again_every_millisecond_or_so_until_the_lock_is_free(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    contender = connect(path)
    attempts = begin_attempts(contender)

    with write_lock_held(path, seconds=0.3):
        _begin_immediate(contender)

    assert contender.in_transaction
    # SQLite's busy handler would have made one attempt (its own tries are inside it): here about one per
    # millisecond of the 0.3 s, or at least a handful on a machine too busy to wake the thread that often.
    assert len(attempts) >= 10
    assert contender.execute("PRAGMA busy_timeout").fetchone() == (BUSY_TIMEOUT_MS,)
    contender.execute("COMMIT")


def test_a_writer_gives_up_after_the_busy_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_driver, "BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "shared.db"
    contender = connect(path)

    with write_lock_held(path, seconds=2.0):
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError) as refused:
            _begin_immediate(contender)
        waited = time.monotonic() - started

    assert refused.value.sqlite_errorcode == sqlite3.SQLITE_BUSY
    assert 0.2 <= waited < 2.0
    assert not contender.in_transaction
    assert contender.execute("PRAGMA busy_timeout").fetchone() == (200,)


async def test_the_services_write_transactions_wait_so(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    connect(path).execute("CREATE TABLE items (id INTEGER PRIMARY KEY)")
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        with write_lock_held(path, seconds=0.3):
            started = time.monotonic()
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO items (id) VALUES (1)"))
            waited = time.monotonic() - started
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM items"))).scalar_one() == 1
            busy_timeout = (await connection.execute(text("PRAGMA busy_timeout"))).scalar_one()
    finally:
        await engine.dispose()

    assert waited >= 0.25  # it waited for the other writer, and then wrote
    assert busy_timeout == BUSY_TIMEOUT_MS
