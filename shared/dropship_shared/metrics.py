"""Prometheus metrics shared by the services' plumbing."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EVENTS_PUBLISHED = Counter("events_published_total", "Events published with a broker confirm", ["event_type"])
EVENTS_CONSUMED = Counter("events_consumed_total", "Events handled and acked", ["queue", "event_type"])
# An alert: every increase is an event nobody handled (reason: malformed | handler_failed).
EVENTS_DEAD_LETTERED = Counter("events_dead_lettered_total", "Events moved to a DLQ", ["queue", "reason"])
TRANSIENT_DATABASE_RETRIES = Counter(
    "transient_database_retries_total",
    "Passing database conflicts (deadlock, lock timeout, busy SQLite) retried in place",
    ["operation", "kind"],
)
OUTBOX_PENDING = Gauge("outbox_pending", "Outbox rows not yet published at the relay's last look")
