"""Prometheus metrics shared by the services' plumbing."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EVENTS_PUBLISHED = Counter("events_published_total", "Events published with a broker confirm", ["event_type"])
EVENTS_CONSUMED = Counter("events_consumed_total", "Events handled and acked", ["queue", "event_type"])
EVENTS_DEAD_LETTERED = Counter("events_dead_lettered_total", "Malformed events moved to a DLQ", ["queue"])
OUTBOX_PENDING = Gauge("outbox_pending", "Outbox rows not yet published at the relay's last look")
