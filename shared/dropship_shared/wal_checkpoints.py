"""Checkpoints of a SQLite file's write-ahead log on a thread of their own, off the one writer connection's path.

By default SQLite checkpoints from the connection that commits: once the WAL holds 1,000 pages, the commit that
passed them copies the pages into the database file and syncs both files on the writer's thread, before that
thread serves the next statement. A busy service's writer (orders: intake's group commits, the relay's marks and
the consumer in turn) wrote about 340 pages per 64-order transaction, so every third commit also checkpointed:
a commit's wall time p90 7 ms of CPU and 20-30 ms in all, against 2-3 ms without it (`scripts/bench_intake.py`).

Here a thread with a connection of its own runs a PASSIVE checkpoint every `CHECKPOINT_EVERY_SECONDS` (PASSIVE:
it copies what no reader still needs and never waits for, nor blocks, the writer or the readers; the sqlite3
module lets go of the GIL while SQLite works). The writer keeps a checkpoint of its own, but only past
`WRITER_CHECKPOINT_PAGES`: SQLite starts the WAL over (writes it from its first page again) only when a write
transaction begins with every committed page already copied, which a checkpoint on another thread, racing the
writer's next commit, rarely leaves; the writer's own checkpoint then copies the few pages the thread has not
yet and lets the next transaction start the WAL over, so the WAL stays near that size. `JOURNAL_SIZE_LIMIT_BYTES`
truncates the file when it starts over after growing past it (a reader holding an old snapshot for long).

Crash safety is SQLite's as before: a commit is in the WAL before it returns, a checkpoint only copies committed
pages, and a WAL that was not fully copied when the process died is replayed when the file is next opened.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from dropship_shared.logs import get_logger

log = get_logger(__name__)

CHECKPOINT_EVERY_SECONDS = 0.2
WRITER_CHECKPOINT_PAGES = 10_000  # about 40 MB of WAL with 4 KiB pages
JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
_CHECKPOINTER = "wal_checkpointer"  # the key of a writer connection's checkpointer in its pool record's info


class WalCheckpointer:
    """A thread that checkpoints `database`'s WAL every `CHECKPOINT_EVERY_SECONDS` until stopped."""

    def __init__(self, database: str) -> None:
        self._database = database
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"wal-checkpoints {database}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self._database, isolation_level=None, check_same_thread=False)
        try:
            while not self._stopping.wait(CHECKPOINT_EVERY_SECONDS):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as error:  # the writer's own checkpoint bounds the WAL meanwhile
                    log.warning("wal checkpoint failed", database=self._database, error=repr(error))
        finally:
            connection.close()


def checkpoint_off_the_writer(engine: AsyncEngine) -> None:
    """Each connection `engine` opens to a SQLite file in WAL mode gets a `WalCheckpointer`, stopped when the
    connection is closed (the engine disposed, or the connection replaced); the connection itself checkpoints
    only past `WRITER_CHECKPOINT_PAGES`. For the one writer connection of `db.create_engine`."""

    @event.listens_for(engine.sync_engine, "connect")
    def _start(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode")
        if cursor.fetchone()[0] == "wal":
            cursor.execute("PRAGMA database_list")  # the file as SQLite opened it
            database = next(file for _seq, name, file in cursor.fetchall() if name == "main")
            cursor.execute(f"PRAGMA wal_autocheckpoint={WRITER_CHECKPOINT_PAGES}")
            cursor.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT_BYTES}")
            checkpointer = WalCheckpointer(database)
            checkpointer.start()
            record.info[_CHECKPOINTER] = checkpointer
        cursor.close()

    @event.listens_for(engine.sync_engine, "close")
    def _stop(_dbapi_connection: Any, record: Any) -> None:
        checkpointer = record.info.pop(_CHECKPOINTER, None)
        if checkpointer is not None:
            checkpointer.stop()
