"""The supplier gateway's database schema (SQLAlchemy Core tables; the migrations create them)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from dropship_shared.db import Money, UtcDateTime
from dropship_shared.tables import inbox_table, operator_actions_table, outbox_table

metadata = MetaData(info={"service": "supplier-gateway"})
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
operator_actions = operator_actions_table(metadata)

suppliers = Table(
    "suppliers",
    metadata,
    Column("supplier_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("protocol", String(16), nullable=False),
    Column("base_url", String(500), nullable=False),
    Column("signing_secret", String(500), nullable=False),  # sealed (secret_box.SecretBox)
    Column("polling", Boolean, nullable=False, default=False),
    Column("requests_per_second", Float, nullable=True),
    Column("timeout_seconds", Float, nullable=True),
    Column("x12_isa_qualifier", String(2), nullable=True),
    Column("x12_isa_id", String(15), nullable=True),
    Column("x12_gs_id", String(15), nullable=True),
    Column("x12_acknowledgement_url", String(500), nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("give_up_attempts", Integer, nullable=True),  # None: DISPATCH_GIVE_UP_ATTEMPTS
    Column("give_up_seconds", Float, nullable=True),  # None: DISPATCH_GIVE_UP_SECONDS
)

purchase_orders = Table(
    "purchase_orders",
    metadata,
    Column("po_number", String(64), primary_key=True),
    Column("supplier_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("release_reason", String(100), nullable=False),
    Column("below_minimum", Boolean, nullable=False),
    Column("state", String(32), nullable=False),
    Column("supplier_order_id", String(100), nullable=True),
    Column("acknowledgement", String(16), nullable=True),
    Column("failure_reason", String(500), nullable=True),
    Column("correlation_id", String(100), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # dispatching: which replica holds the PO right now, when to try again, what went wrong last
    Column("send_attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime, nullable=True),
    Column("lease_owner", String(100), nullable=True),
    Column("lease_expires_at", UtcDateTime, nullable=True),
    Column("last_error", String(1000), nullable=True),
    # polling-mode suppliers: where in their event feed we are
    Column("poll_cursor", Integer, nullable=False, default=0),
    Column("next_poll_at", UtcDateTime, nullable=True),
    # W3C trace context of the order's trace when the PO was requested (tracing on): its sending continues it
    Column("traceparent", String(55), nullable=True),
    Index("ix_purchase_orders_dispatch", "state", "supplier_id", "next_attempt_at"),
)

purchase_order_lines = Table(
    "purchase_order_lines",
    metadata,
    Column("po_number", String(64), ForeignKey("purchase_orders.po_number"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("backorder_line_id", String(100), nullable=True, index=True),
    Column("sku", String(64), nullable=False),
    Column("supplier_sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_cost", Money, nullable=False),
    Column("ship_to", JSON, nullable=False),
    Column("customer_ref", String(100), nullable=False),
    Column("status", String(32), nullable=False),
    Column("acknowledged_as", String(16), nullable=True),
    Column("accepted_qty", Integer, nullable=False),
    Column("rejected_qty", Integer, nullable=False),
    Column("shipped_qty", Integer, nullable=False),
    Column("cancelled_qty", Integer, nullable=False),
    Column("expected_ship_date", Date, nullable=True),
    Column("reason", String(500), nullable=True),
)

purchase_order_history = Table(
    "purchase_order_history",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("po_number", String(64), ForeignKey("purchase_orders.po_number"), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("state", String(32), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("note", String(500), nullable=True),
    UniqueConstraint("po_number", "seq"),
)

purchase_order_shipments = Table(
    "purchase_order_shipments",
    metadata,
    Column("po_number", String(64), ForeignKey("purchase_orders.po_number"), primary_key=True),
    Column("shipment_id", String(100), primary_key=True),
    Column("recorded_at", UtcDateTime, nullable=False),
)

# Supplier event ids we have applied: a signed request carrying one again is a replay.
supplier_events = Table(
    "supplier_events",
    metadata,
    Column("supplier_id", String(64), primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("po_number", String(64), nullable=True),
    Column("received_at", UtcDateTime, nullable=False),
)

line_cancellations = Table(
    "line_cancellations",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("po_number", String(64), nullable=False, index=True),
    Column("supplier_id", String(64), nullable=False),
    Column("backorder_line_id", String(100), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("request_event_id", String(36), nullable=False, unique=True),
    Column("state", String(16), nullable=False),  # pending | resolved
    Column("outcome", String(32), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime, nullable=True),
    Column("lease_expires_at", UtcDateTime, nullable=True),
    Column("last_error", String(1000), nullable=True),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime, nullable=True),
)

# The exceptions inbox: supplier answers that need a person (see domain/supplier_exception.py).
supplier_exceptions = Table(
    "supplier_exceptions",
    metadata,
    Column("exception_id", String(36), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("supplier_id", String(64), nullable=True, index=True),  # None: a dead letter of no supplier
    Column("po_number", String(64), nullable=True, index=True),
    Column("line_no", Integer, nullable=True),
    Column("backorder_line_id", String(100), nullable=True),
    Column("order_id", String(100), nullable=True, index=True),
    Column("detail", String(1000), nullable=False),
    Column("received", Text, nullable=True),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime, nullable=True),
    Column("resolution_note", String(1000), nullable=True),
    Column("dedupe_key", String(300), nullable=False, unique=True),
    # a dead letter: where it waits (`<queue>.dlq`), what it was, and the id it is replayed by
    Column("queue", String(200), nullable=True),
    Column("routing_key", String(200), nullable=True),
    Column("message_id", String(200), nullable=True),
    Index("ix_supplier_exceptions_open", "resolved_at", "opened_at"),
)

# X12: control numbers per trading partner, never reused (incremented in a transaction).
x12_control_numbers = Table(
    "x12_control_numbers",
    metadata,
    Column("supplier_id", String(64), primary_key=True),
    Column("last_control_number", Integer, nullable=False),
)

# X12: every interchange we sent or received, for duplicates, 997 matching and the audit trail.
x12_interchanges = Table(
    "x12_interchanges",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("supplier_id", String(64), nullable=False),
    Column("direction", String(8), nullable=False),  # outbound | inbound
    Column("sender_id", String(40), nullable=False),  # ISA05:ISA06
    Column("control_number", String(9), nullable=False),  # ISA13
    Column("kind", String(8), nullable=False),  # 850 | 855 | 856 | 997 | mixed
    Column("po_number", String(64), nullable=True, index=True),
    Column("group_control_number", String(9), nullable=True),
    Column("status", String(16), nullable=False),  # sent | accepted | rejected | applied | answered
    Column("body", Text, nullable=False),
    Column("reply", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    # inbound, for a partner that takes our 997s at its own endpoint: pending | sent (None: in the answer)
    Column("reply_delivery", String(8), nullable=True),
    Column("reply_lease_expires_at", UtcDateTime, nullable=True),
    Index("ix_x12_interchanges_reply_delivery", "reply_delivery"),
    UniqueConstraint("direction", "sender_id", "control_number", name="uq_x12_interchange"),
)
