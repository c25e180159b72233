"""UtcDateTime's own SQLite bind step writes the text SQLAlchemy's DATETIME wrote (the rows are unchanged)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from dropship_shared.db import UtcDateTime

MOMENTS = [
    datetime(2026, 11, 30, 4, 34, 57, 237676, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds: still six digits
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),  # another offset: as UTC
    None,
]


@pytest.mark.parametrize("moment", MOMENTS)
def test_sqlite_binds_the_text_datetime_stored_before(moment: datetime | None) -> None:
    dialect = sqlite.dialect()
    as_before = sqlite.DATETIME().bind_processor(dialect)
    expected = as_before(UtcDateTime().process_bind_param(moment, dialect))
    assert UtcDateTime().dialect_impl(dialect).bind_processor(dialect)(moment) == expected


def test_a_naive_datetime_is_still_refused() -> None:
    dialect = sqlite.dialect()
    with pytest.raises(ValueError, match="naive"):
        UtcDateTime().dialect_impl(dialect).bind_processor(dialect)(datetime(2026, 1, 1))


def test_the_same_instant_binds_the_same_text_in_any_time_zone_and_naive_values_stay_refused() -> None:
    dialect = sqlite.dialect()
    process = UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
    moment = datetime(2026, 5, 6, 7, 8, 9, 10, tzinfo=UTC)
    texts = [process(moment), process(moment.astimezone(timezone(timedelta(hours=3)))), process(moment)]
    assert texts == ["2026-05-06 07:08:09.000010"] * 3
    assert process(moment + timedelta(microseconds=1)) == "2026-05-06 07:08:09.000011"
    for _ in range(2):  # a refusal is not remembered as an answer
        with pytest.raises(ValueError, match="naive"):
            process(moment.replace(tzinfo=None))


def test_postgresql_binds_through_process_bind_param_as_before() -> None:
    dialect = postgresql.asyncpg.dialect()  # type: ignore[attr-defined]
    moment = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    processor = UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
    bound = processor(moment) if processor else UtcDateTime().process_bind_param(moment, dialect)
    assert bound == moment and bound.tzinfo == UTC
