"""The console's alerts: what is wrong now, most serious first, and open exceptions by age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aggregator.domain.alerts import Severity, alerts, by_age

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
QUIET = {"orders": 0, "aggregator": 0, "supplier-gateway": 0}


def supplier(condition: str, **extra: object) -> dict[str, object]:
    return {"supplier_id": "acme", "name": "ACME", "condition": condition, "circuit": "open", **extra}


def test_exceptions_are_counted_by_age() -> None:
    ages = by_age([NOW - timedelta(minutes=5), NOW - timedelta(hours=2), NOW - timedelta(days=3)], NOW)
    assert ages == {"under 1 h": 1, "1-24 h": 1, "over 24 h": 1}
    assert by_age([], NOW) == {"under 1 h": 0, "1-24 h": 0, "over 24 h": 0}


def test_nothing_wrong_is_no_alert() -> None:
    assert alerts([supplier("ok")], by_age([], NOW), QUIET, {"orders": None}, 0, 0, []) == []


def test_the_serious_come_first_with_what_to_look_at() -> None:
    found = alerts(
        [supplier("ok"), supplier("down", waiting_purchase_orders=3, last_error="HTTP 503")],
        by_age([NOW - timedelta(minutes=1)], NOW),
        {**QUIET, "orders": 2},
        {"supplier-gateway": {"queued_events": 500, "outbox_pending": 0}},
        4,
        1,
        ["orders"],
    )
    assert [(a.severity, a.kind) for a in found] == [
        (Severity.CRITICAL, "unreachable"),
        (Severity.CRITICAL, "supplier_down"),
        (Severity.CRITICAL, "dead_letters"),
        (Severity.CRITICAL, "promises"),
        (Severity.WARNING, "exceptions"),
        (Severity.WARNING, "lag"),
        (Severity.WARNING, "promises"),
    ]
    down = found[1]
    assert down.title == "Supplier ACME is down" and "HTTP 503" in down.detail and "3 PO(s)" in down.detail
    assert down.link == "#/suppliers/acme"


def test_a_refusing_supplier_and_old_exceptions_are_critical() -> None:
    found = alerts(
        [supplier("refusing", last_error="account on stop")],
        by_age([NOW - timedelta(days=2)], NOW),
        QUIET,
        {},
        0,
        0,
        [],
    )
    assert [(a.severity, a.kind, a.detail) for a in found] == [
        (Severity.CRITICAL, "supplier_refusing", "account on stop"),
        (Severity.CRITICAL, "exceptions", "oldest: over 24 h"),
    ]
