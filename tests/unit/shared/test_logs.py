"""JSON log lines carry dates and times as ISO 8601 text."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from dropship_shared.logs import configure_logging, get_logger


def test_json_logs_print_timestamps_not_reprs(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("test-service", "INFO", json=True)
    get_logger("test").warning(
        "purchase order not placed", retry_at=datetime(2026, 11, 29, 13, 15, tzinfo=UTC), ship_date=date(2026, 12, 1)
    )
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["retry_at"] == "2026-11-29T13:15:00+00:00"
    assert line["ship_date"] == "2026-12-01"
    assert line["service"] == "test-service"
