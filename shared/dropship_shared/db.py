"""Database engines: SQLite (embedded default) and PostgreSQL behind one async SQLAlchemy API."""

from __future__ import annotations

import functools
import operator
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Dialect,
    Executable,
    Insert,
    Numeric,
    String,
    Table,
    TypeDecorator,
    any_,
    bindparam,
    event,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext import asyncio as sqlalchemy_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.types import TypeEngine

from dropship_shared.inputs import plain_amount
from dropship_shared.sqlite_driver import BEGIN_IMMEDIATE, BUSY_TIMEOUT_MS, one_hop_url
from dropship_shared.wal_checkpoints import checkpoint_off_the_writer

# Engines are made through the module attribute, which tracing instruments when it is on (a statement a span).


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def engine_url(url: str) -> str | URL:
    """The URL an engine is made with: `url`, a SQLite one served by `sqlite_driver` (one trip to aiosqlite's
    thread per statement)."""
    return one_hop_url(url) if is_sqlite(url) else url


def make_sqlite_directory(url: str) -> None:
    """The folder of a SQLite file, made if missing (SQLite makes the file, not its folder)."""
    database = make_url(url).database
    if is_sqlite(url) and database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    """An engine that serialises writers safely on SQLite and pools connections on PostgreSQL (pinged only after
    a rest, `_ping_after_rest`)."""
    if not is_sqlite(url):
        engine = sqlalchemy_asyncio.create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)
        _ping_after_rest(engine)
        return engine
    make_sqlite_directory(url)
    # One connection: the process's transactions queue on the pool (an asyncio wait) instead of
    # on SQLite's busy handler, which sleeps in coarse steps and ruins latency under load.
    engine = sqlalchemy_asyncio.create_async_engine(
        engine_url(url), connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, pool_size=1, max_overflow=0, pool_timeout=60
    )

    # pysqlite's own transaction handling defers BEGIN and upgrades read locks to write locks
    # mid-transaction, which deadlocks concurrent writers. Every transaction starts as
    # BEGIN IMMEDIATE instead: writers of other processes are waited for (sqlite_driver), and a read-then-write
    # (stock allocation, batch decisions) can never oversell.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    checkpoint_off_the_writer(engine)  # after journal_mode=WAL above: listeners run in the order they were added

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(BEGIN_IMMEDIATE)  # waiting for another process's writer in fine steps

    return engine


def create_postgres_pool(url: str, pool_size: int, autocommit: bool = False) -> AsyncEngine:
    """A fixed pool for one kind of background work or for reads: no overflow, so a burst waits a moment
    for a kept connection instead of opening (TLS handshake, authentication, an empty statement cache) and
    closing new ones. Autocommit, for work made of single statements: no BEGIN and COMMIT round trips.
    Connections are pinged only after a rest (`_ping_after_rest`)."""
    engine = sqlalchemy_asyncio.create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        isolation_level="AUTOCOMMIT" if autocommit else "READ COMMITTED",
    )
    _ping_after_rest(engine)
    return engine


def create_reader_engine(url: str, pool_size: int = 8) -> AsyncEngine:
    """An engine for reads only, beside the one `create_engine` makes, so that requests reading never wait
    for a connection behind the writers (event handlers holding theirs while they wait on a row lock).

    Each statement is its own snapshot, on both engines (autocommit): no BEGIN and no COMMIT round trips, which
    a read answered on a busy event loop pays for with a loop turn each. On SQLite: connections of their own,
    which WAL lets read while the one writer writes, and which refuse writes. On PostgreSQL: a fixed pool whose
    connections are pinged only when they come back from a rest (`_ping_after_rest`), not before every read."""
    if not is_sqlite(url):
        # Under READ COMMITTED each statement has its own snapshot inside a transaction too, so a read loses
        # nothing by autocommit.
        return create_postgres_pool(url, pool_size, autocommit=True)
    engine = sqlalchemy_asyncio.create_async_engine(
        engine_url(url),
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000},
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=60,
        isolation_level="AUTOCOMMIT",
        skip_autocommit_rollback=True,  # nothing to roll back: no trip to the driver's thread to do it
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    return engine


PING_AFTER_REST_SECONDS = 10.0


def _ping_after_rest(engine: AsyncEngine) -> None:
    """A pooled PostgreSQL connection is pinged when it is taken after resting PING_AFTER_REST_SECONDS or more (a
    restarted server or a dropped idle connection is found then, and replaced before the work), not on every
    checkout: during a burst a connection comes back within milliseconds, and a ping before each read or
    transaction would be one more round trip, so one more turn of the busy loop, each time. A server that
    restarts in the middle of a burst fails the work in flight (as with a ping before each) and the work on
    connections back from it: the pool then replaces every connection older than the failure, and a transaction
    that failed so is retried (`transient.retry_transient`: connection_lost)."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _rested_since(_dbapi_connection: Any, record: Any) -> None:
        record.info["rested_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_rested(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        rested_since = record.info.get("rested_since")
        if rested_since is None or time.monotonic() - rested_since < PING_AFTER_REST_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool replaces the connection and tries again
            raise DisconnectionError(f"reader connection lost while resting: {exc!r}") from exc


def among(session: AsyncSession, column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """`column` among `values`. On PostgreSQL `= ANY($1)` with the values as one array: the same statement
    text whatever their number, so asyncpg prepares it once per connection and SQLAlchemy renders nothing
    per execution (an IN list is a new statement for each length, and batches come in every length). IN on
    SQLite, which has no arrays."""
    wanted = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(wanted, postgresql.ARRAY(column.type, dimensions=1)))
    return column.in_(wanted)


def among_bound(column: ColumnElement[Any], name: str, dialect: str) -> ColumnElement[bool]:
    """`column` among the list bound to `name` at each execution, as `among` compares it on `dialect`: for a
    statement built once and run with `{name: [...]}` (an expanding IN on SQLite, rendered per execution from
    the statement compiled once; one array on PostgreSQL)."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type, dimensions=1)))
    return column.in_(bindparam(name, expanding=True))


async def insert_many(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    ignore_duplicates: bool = False,
    returning: ColumnElement[Any] | None = None,
) -> list[Any]:
    """Insert `rows` (each naming the same columns) in one round trip; with `ignore_duplicates` a row whose key
    is taken is skipped (ON CONFLICT DO NOTHING, either engine); with `returning`, that column of the rows
    inserted (in no particular order), else [].

    On PostgreSQL the rows go as one array per column to `INSERT ... SELECT FROM unnest(...)`: one execution
    whatever their number, with a statement text fixed per table and columns (asyncpg prepares it once per
    connection), where an executemany is one Bind/Execute per row, each paying the server's executor start-up.
    On SQLite the rows go as the parameters of one executemany, as plain tuples (`_PlainInsert`) unless SQLAlchemy
    has values of its own to add to each row or `returning` is asked for. Either way the statement is built once
    (`insert(...).values(rows)` is a new statement for each number of rows, its cache key and compilation paid
    again and again: 3-4 ms of client CPU for 20 rows, 0.8-1.3 ms this way)."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        names = tuple(rows[0])
        statement = _unnest_insert_statement(table, names, ignore_duplicates, returning)
        result = await session.execute(statement, {name: [row[name] for row in rows] for name in names})
    else:
        connection = await session.connection()
        plain = (
            _plain_insert(table, tuple(rows[0]), ignore_duplicates, connection.dialect) if returning is None else None
        )
        if plain is not None:
            await connection.exec_driver_sql(plain.sql, [plain.parameters(row) for row in rows])
            return []
        statement = _insert_statement(table, dialect, ignore_duplicates, returning)
        result = await session.execute(statement, list(rows))
    return list(result.scalars()) if returning is not None else []


class _PlainInsert:
    """A SQLite INSERT of rows naming `names`, run as the driver's executemany of plain tuples: each row's values
    put in the statement's order and bound through their columns' own bind steps, as SQLAlchemy's executemany
    binds them, without its per-row work around that (a dict of the statement's parameters built and read back
    per row: about as much again as the bind steps themselves)."""

    def __init__(self, sql: str, order: tuple[str, ...], binds: tuple[Any, ...]) -> None:
        self.sql = sql
        self._values = operator.itemgetter(*order)
        self._binds = binds

    def parameters(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        values = self._values(row)
        if len(self._binds) == 1:  # itemgetter of one name gives the value, not a tuple of it
            values = (values,)
        return tuple([value if bind is None else bind(value) for bind, value in zip(self._binds, values, strict=True)])


@functools.lru_cache(maxsize=256)
def _plain_insert(
    table: Table, names: tuple[str, ...], ignore_duplicates: bool, dialect: Dialect
) -> _PlainInsert | None:
    """The statement compiled once per table and columns; None where SQLAlchemy adds to each row itself (a column
    not named that has a Python-side default): such inserts keep its executemany."""
    statement = sqlite.insert(table).on_conflict_do_nothing() if ignore_duplicates else insert(table)
    compiled = statement.compile(dialect=dialect, column_keys=list(names))
    order = tuple(compiled.positiontup or ())
    if compiled.insert_prefetch or sorted(order) != sorted(names):
        return None
    binds = tuple(table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in order)
    return _PlainInsert(compiled.string, order, binds)


@functools.lru_cache(maxsize=256)
def _insert_statement(
    table: Table, dialect: str, ignore_duplicates: bool, returning: ColumnElement[Any] | None
) -> Executable:
    """Built once per table and form (every service's inbox claim runs it per transaction): SQLAlchemy computes
    a statement's cache key on every new statement object."""
    statement: postgresql.Insert | sqlite.Insert | Insert
    if ignore_duplicates:
        statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table).on_conflict_do_nothing()
    else:
        statement = insert(table)
    return statement if returning is None else statement.returning(returning)


@functools.lru_cache(maxsize=256)
def _unnest_insert_statement(
    table: Table, names: tuple[str, ...], ignore_duplicates: bool, returning: ColumnElement[Any] | None
) -> Executable:
    """`INSERT INTO table (names) SELECT ... FROM unnest($1::type1[], ...)`, each parameter the list of one
    column's values, built once per table and columns. One-dimensional arrays: a JSON value that is a list stays
    one element. Python-side scalar defaults of the columns not named are added as constants, as an executemany
    would add them to each row; the others come from the server."""
    columns = [table.c[name] for name in names]
    arrays = func.unnest(
        *(bindparam(column.name, type_=postgresql.ARRAY(column.type, dimensions=1)) for column in columns)
    )
    values = arrays.table_valued(*names).render_derived()
    statement = postgresql.insert(table).from_select(names, select(*(values.c[name] for name in names)))
    if ignore_duplicates:
        statement = statement.on_conflict_do_nothing()
    return statement if returning is None else statement.returning(returning)


async def update_many(session: AsyncSession, table: Table, key: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write each of `rows` (each naming the same columns, `key` among them, a different `key` value each) to the
    row of `table` whose `key` column holds its `key` value, in one round trip.

    On PostgreSQL the rows go as one array per column to `UPDATE ... FROM unnest(...)`, one execution whatever
    their number (as `insert_many`), where an executemany is one Bind/Execute per row, each paying the server's
    executor start-up. On SQLite, an executemany of one statement. Either way built once per table, key and
    columns."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    names = tuple(rows[0])
    if dialect == "postgresql":
        statement = _unnest_update_statement(table, key, names)
        await session.execute(statement, {_ROWS + name: [row[name] for row in rows] for name in names})
    else:
        others = [name for name in names if name != key]
        await session.execute(
            _update_statement(table, key),
            [{_MATCHING_KEY: row[key], **{name: row[name] for name in others}} for row in rows],
        )


# Bound names no column takes (an UPDATE keeps the columns' own names for the values it sets): the key an
# executemany's row matches, and the prefix of each column's array of values.
_MATCHING_KEY = "matching_key"
_ROWS = "rows_"


@functools.lru_cache(maxsize=64)
def _update_statement(table: Table, key: str) -> Executable:
    return update(table).where(table.c[key] == bindparam(_MATCHING_KEY))


@functools.lru_cache(maxsize=64)
def _unnest_update_statement(table: Table, key: str, names: tuple[str, ...]) -> Executable:
    """`UPDATE table SET column = v.column, ... FROM unnest($1::type1[], ...) AS v(names) WHERE table.key = v.key`,
    each parameter the list of one column's values."""
    columns = [table.c[name] for name in names]
    arrays = func.unnest(
        *(bindparam(_ROWS + column.name, type_=postgresql.ARRAY(column.type, dimensions=1)) for column in columns)
    )
    values = arrays.table_valued(*names).render_derived()
    return (
        update(table)
        .where(table.c[key] == values.c[key])
        .values({name: values.c[name] for name in names if name != key})
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


class Money(TypeDecorator[Decimal]):
    """Exact decimals on both engines: NUMERIC on PostgreSQL, text on SQLite (which has no decimal type).

    Read back without trailing zeros on both, so an amount renders the same whichever engine kept it
    (PostgreSQL alone would answer 19.9900 for 19.99)."""

    impl = String(40)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(18, 4))
        return dialect.type_descriptor(String(40))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name != "postgresql" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else plain_amount(Decimal(str(value)))


@functools.lru_cache(maxsize=1024)
def _sqlite_utc_text(value: datetime) -> str:
    """The text a timestamp is stored as on SQLite, remembered: a transaction's rows carry the same few instants
    again and again (an order's time in its order, transition and promise rows; one `now` for all the payment and
    message rows of a statement), and a hit costs a tenth of the formatting. Equal instants (even in other time
    zones) have the one UTC text; a naive value is never equal to an aware one, and is refused each time."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given; use timezone-aware UTC times")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps that come back timezone-aware (UTC) on SQLite too, which stores them naive."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC times")
        return value.astimezone(UTC) if dialect.name == "postgresql" else value.astimezone(UTC).replace(tzinfo=None)

    def bind_processor(self, dialect: Dialect) -> Any:
        """On SQLite, the UTC time straight to the text SQLAlchemy's DATETIME stores ("2026-01-02 03:04:05.000000",
        always six digits of microseconds), in one step instead of `process_bind_param` then DATETIME's own
        formatting: several timestamps per order in each write, about 1.8 -> 1.1 us each."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            return None if value is None else _sqlite_utc_text(value)

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
