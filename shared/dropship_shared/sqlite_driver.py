"""SQLite through aiosqlite with one trip to aiosqlite's thread per statement.

SQLAlchemy's aiosqlite adapter makes three or four trips per statement (open a cursor, execute, fetch the rows,
close the cursor), each a queue put, a wake-up of the database thread and a `call_soon_threadsafe` back that wakes
the event loop; a statement here runs, has its rows read and its cursor closed in one function on that thread.
Everything else is SQLAlchemy's aiosqlite dialect as it is: transactions, isolation, commit and rollback (but for
the pool's rollback of a connection with no transaction open, a no-op not sent), pooling, server-side cursors, and
the sqlite3 errors, which SQLAlchemy wraps in its DBAPI errors as before.

It runs the function through `aiosqlite.Connection._execute`, a private API: shared/pyproject.toml pins aiosqlite
(and SQLAlchemy, whose adapter classes this extends) to the minor versions it was tested with.
"""

from __future__ import annotations

import collections
import sqlite3
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


class _Outcome(NamedTuple):
    """What a statement leaves on its cursor, carried back from the database thread."""

    description: Any
    rowcount: int
    lastrowid: Any
    rows: list[Any]


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """The whole statement, on aiosqlite's thread: executed, its rows read (as SQLAlchemy's adapter reads them:
    after `execute`, not after `executemany`) and its cursor closed."""
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
