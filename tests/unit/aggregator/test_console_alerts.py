"""The console's alerts: what is wrong now, most serious first, and open exceptions by age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aggregator.domain.alerts import Severity, alerts, by_age, why_at_risk

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


def test_what_a_line_at_risk_waits_for_in_plain_words() -> None:
    waiting = {"status": "backordered", "po_number": None, "supplier_id": "acme"}
    batch = {"name": "ACME", "held": False, "escalated": False, "blocked_by": ["min_units", "AC-1: case_pack"]}
    assert why_at_risk(waiting, batch, None, None) == "waiting in ACME's batch for min units, AC-1: case pack"
    assert why_at_risk(waiting, {**batch, "held": True}, None, None) == "ACME's batch is on hold"
    assert "escalated" in why_at_risk(waiting, {**batch, "escalated": True}, None, None)

    placed = {"status": "on_purchase_order", "po_number": "PO7", "supplier_id": "acme"}
    down = {"name": "ACME", "condition": "down", "last_error": "HTTP 503"}
    assert why_at_risk(placed, batch, {"state": "requested"}, down) == "PO PO7 not placed: ACME is down (HTTP 503)"
    assert why_at_risk(placed, batch, {"state": "requested"}, {"name": "ACME", "condition": "ok"}) == (
        "PO PO7 not placed with ACME yet"
    )
    assert (
        why_at_risk(placed, batch, {"state": "failed", "failure_reason": "refused"}, None) == "PO PO7 failed: refused"
    )
    at_supplier = {**placed, "status": "backordered_at_supplier", "status_reason": "supplier ships 2026-12-20"}
    assert why_at_risk(at_supplier, batch, {"state": "acknowledged"}, None) == "supplier ships 2026-12-20"
    assert why_at_risk({**placed, "status": "acknowledged"}, None, {"state": "acknowledged"}, None) == (
        "PO PO7 acknowledged by acme, not all shipped yet"
    )
    assert why_at_risk({**placed, "status": "acknowledged"}, None, None, None) == "acknowledged at acme"
