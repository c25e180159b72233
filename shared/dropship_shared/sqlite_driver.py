"""SQLite through aiosqlite with one trip to aiosqlite's thread per statement.

SQLAlchemy's aiosqlite adapter makes three or four trips per statement (open a cursor, execute, fetch the rows,
close the cursor), each a queue put, a wake-up of the database thread and a `call_soon_threadsafe` back that wakes
the event loop; a statement here runs, has its rows read and its cursor closed in one function on that thread.
Everything else is SQLAlchemy's aiosqlite dialect as it is: transactions, isolation, commit and rollback (but for
the pool's rollback of a connection with no transaction open, a no-op not sent), pooling, server-side cursors, and
the sqlite3 errors, which SQLAlchemy wraps in its DBAPI errors as before.

A write transaction's `BEGIN IMMEDIATE` waits for another process's writer in steps of a millisecond, not in
SQLite's busy handler (`_begin_immediate`).

It runs the function through `aiosqlite.Connection._execute`, a private API: shared/pyproject.toml pins aiosqlite
(and SQLAlchemy, whose adapter classes this extends) to the minor versions it was tested with.
"""

from __future__ import annotations

import collections
import sqlite3
import time
from typing import Any, NamedTuple

from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.util.concurrency import await_

DRIVER = "aiosqlite_one_hop"

BUSY_TIMEOUT_MS = 30_000  # how long a statement waits for the file's lock (PRAGMA busy_timeout, set by db.py)
WRITER_POLL_SECONDS = 0.001  # how often BEGIN IMMEDIATE tries again while another process writes
BEGIN_IMMEDIATE = "BEGIN IMMEDIATE"


class _Outcome(NamedTuple):
    """What a statement leaves on its cursor, carried back from the database thread."""

    description: Any
    rowcount: int
    lastrowid: Any
    rows: list[Any]


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """The whole statement, on aiosqlite's thread: executed, its rows read (as SQLAlchemy's adapter reads them:
    after `execute`, not after `executemany`) and its cursor closed."""
    if operation == BEGIN_IMMEDIATE:
        _begin_immediate(connection)
        return _Outcome(None, -1, None, [])
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description and not many else []
        return _Outcome(cursor.description, cursor.rowcount, cursor.lastrowid, rows)
    finally:
        cursor.close()


def _begin_immediate(connection: sqlite3.Connection) -> None:
    """Takes the database's write lock, trying every `WRITER_POLL_SECONDS` for up to `BUSY_TIMEOUT_MS` while
    another process holds it. In a process, writers queue on its one writer connection (db.create_engine); a
    second process writing the same file (orders' message sender) can only wait on the lock itself, and SQLite's
    busy handler tries again after 1, 2, 5, 10 ... up to 100 ms between tries: a process committing back to back
    (orders taking 700 orders/s) frees the lock for a moment between two transactions, which those coarse tries
    almost never hit, and the other process waited seconds (claims of customer messages up to 1.1 s, records of
    what went up to 2.4 s). Only the BEGIN waits so: once a transaction holds the write lock, WAL lets nothing
    else make it wait, and a statement outside one keeps the busy timeout."""
    connection.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                connection.execute(BEGIN_IMMEDIATE)
                return
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                    raise
            time.sleep(WRITER_POLL_SECONDS)
    finally:
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor with nothing open on the database thread: each statement's outcome is kept here, its rows
    buffered as SQLAlchemy's adapter buffers them."""

    # The DBAPI attributes are plain attributes here (SQLAlchemy's adapter reads them from the driver's cursor).
    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    description: Any
    rowcount: int
    lastrowid: Any
    arraysize: int

    # Nothing to close on the database thread: `close` only drops the buffered rows.
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._rows = collections.deque()
        self.arraysize = 1
        self.description = None
        self.rowcount = -1
        self.lastrowid = None

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._hop(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._hop(operation, seq_of_parameters, many=True)

    def _hop(self, operation: str, parameters: Any, many: bool) -> None:
        try:
            outcome = await_(self._connection._execute(_run, self._connection._conn, operation, parameters, many))
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self.description, self.rowcount, self.lastrowid = outcome.description, outcome.rowcount, outcome.lastrowid
        self._rows = collections.deque(outcome.rows)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    _cursor_cls = OneHopCursor

    def rollback(self) -> None:
        # The pool rolls back each connection it takes back, committed or not. With no transaction open sqlite3's
        # rollback does nothing, so that one is not sent to the database thread (`in_transaction` is SQLite's
        # autocommit flag, read here while nothing else runs on this connection).
        connection = self._connection._connection
        if connection is not None and connection.in_transaction:
            super().rollback()


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        stock = super().connect(*arg, **kw)
        return OneHopConnection(self, stock._connection)


class OneHopSQLiteDialect(SQLiteDialect_aiosqlite):
    """SQLAlchemy's aiosqlite dialect with `OneHopCursor` for the cursors it buffers (server-side ones unchanged)."""

    driver = DRIVER
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> OneHopDBAPI:
        return OneHopDBAPI(__import__("aiosqlite"), __import__("sqlite3"))


registry.register(f"sqlite.{DRIVER}", __name__, OneHopSQLiteDialect.__name__)


def one_hop_url(url: str) -> URL:
    """`url` (a SQLite URL) served by this driver."""
    return make_url(url).set(drivername=f"sqlite+{DRIVER}")
