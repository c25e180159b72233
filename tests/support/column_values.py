"""Values of every column type the services store, NULL and awkward values among them: what a multi-row write
(`insert_many`, `update_many`) must store exactly as a row-by-row write does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, Float, Integer, MetaData, String, Text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import TypeEngine

from dropship_shared.db import Money, UtcDateTime, create_engine

AN_HOUR_EAST = timezone(timedelta(hours=1))

VALUES_BY_TYPE: dict[str, tuple[TypeEngine[Any], list[Any]]] = {
    "integer": (Integer(), [1, -7, None, 2**31 - 1]),
    "big_integer": (BigInteger(), [2**40, None, 0]),
    "boolean": (Boolean(), [True, False, None]),
    "date": (Date(), [date(2026, 1, 2), None]),
    "float": (Float(), [0.1, 1e-9, None, 3.0]),
    "json": (JSON(), [[1, [2, 3]], {"a": [1, 2]}, [], "text", 4.5, None, {"nested": {"k": None}}]),
    "money": (Money(), [Decimal("19.99"), Decimal("0.0001"), Decimal("12345678901234.5678"), Decimal(0), None]),
    "string": (String(64), ["plain", "", "quote ' and \" and {braces}, commas", "ünïcode", None]),
    "text": (Text(), ["long " * 200, "NULL", None]),
    "utc_datetime": (
        UtcDateTime(),
        [datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), datetime(2026, 6, 1, 12, tzinfo=AN_HOUR_EAST), None],
    ),
}


@asynccontextmanager
async def engine_with(metadata: MetaData, database_url: str) -> AsyncIterator[AsyncEngine]:
    """A one-connection engine on `database_url` with `metadata`'s tables made, disposed at the end."""
    created = create_engine(database_url, pool_size=1)
    async with created.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        yield created
    finally:
        await created.dispose()
