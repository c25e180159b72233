"""The orders database schema (SQLAlchemy Core tables; the migrations create them)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
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
    column,
    false,
    func,
    true,
)

from dropship_shared.db import Money, UtcDateTime
from dropship_shared.tables import inbox_table, operator_actions_table, outbox_table

metadata = MetaData(info={"service": "orders"})
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
operator_actions = operator_actions_table(metadata)

products = Table(
    "products",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("supplier_id", String(64), nullable=False, index=True),
    Column("supplier_sku", String(64), nullable=False),
    Column("price", Money, nullable=False),
    Column("cost", Money, nullable=False),
    Column("on_hand", Integer, nullable=False),
    Column("lead_time_days", Integer, nullable=False, server_default="7"),
)

# Every supplier's offer of a product (the catalog import's supplier is one of them): routing picks among the
# active ones for each backorder.
product_offers = Table(
    "product_offers",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("supplier_id", String(64), primary_key=True),
    Column("supplier_sku", String(64), nullable=False),
    Column("unit_cost", Money, nullable=False),
    Column("lead_time_days", Integer, nullable=False),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("active", Boolean, nullable=False, default=True, server_default=true()),
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", String(40), primary_key=True),
    Column("customer_email", String(254), nullable=False),
    Column("ship_to", JSON, nullable=False),
    Column("placed_at", UtcDateTime, nullable=False),
    Column("idempotency_key", String(200), nullable=True, unique=True),
    Column("currency", String(3), nullable=False, server_default="USD"),
    # the operators' search by customer email compares it case-insensitively (line_views)
    Index("ix_orders_customer_email_lower", func.lower(column("customer_email"))),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", String(40), ForeignKey("orders.order_id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Money, nullable=False),
    Column("allocated_qty", Integer, nullable=False),
    Column("backordered_qty", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("supplier_id", String(64), nullable=True),
    Column("po_number", String(64), nullable=True),
    Column("lead_time_days", Integer, nullable=False, server_default="0"),
    Column("promised_date", Date, nullable=True),
    Column("cancelled_qty", Integer, nullable=False, server_default="0"),
    Column("rejected_qty", Integer, nullable=False, server_default="0"),
    Column("status_reason", String(500), nullable=True),
    Column("delivered_at", UtcDateTime, nullable=True),
    # The line waits for units incoming to the merchant's warehouse (case-pack surplus), not in a supplier batch.
    Column("awaits_incoming", Boolean, nullable=False, default=False, server_default=false()),
    # Routing (issue 12): how many times the line moved to another offer (its backorder line id's `-r<n>`),
    # the suppliers it was sent to, the latest decision with its alternatives and numbers, and whether it
    # waits for an operator to re-route or reject it.
    Column("route_no", Integer, nullable=False, default=0, server_default="0"),
    Column("tried_suppliers", JSON, nullable=True),
    Column("routing", JSON, nullable=True),
    Column("awaits_operator", Boolean, nullable=False, default=False, server_default=false()),
)

shipments = Table(
    "line_shipments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", String(40), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("shipment_id", String(100), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("carrier", String(100), nullable=False),
    Column("tracking_number", String(100), nullable=False),
    Column("tracking_url", String(500), nullable=True),
    Column("shipped_at", UtcDateTime, nullable=False),
    UniqueConstraint("order_id", "line_no", "shipment_id"),
)

# The audit trail: every status change of every line, with its time and cause.
line_transitions = Table(
    "line_transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", String(40), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("from_status", String(32), nullable=True),
    Column("to_status", String(32), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("cause", String(100), nullable=False),
    Column("event_id", String(36), nullable=True),
    Index("ix_line_transitions_line", "order_id", "line_no"),
    Index("ix_line_transitions_to_at", "to_status", "at"),
)

# The date history: each expected delivery date a line was given.
line_promises = Table(
    "line_promises",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", String(40), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("promised_date", Date, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("cause", String(100), nullable=False),
    Column("event_id", String(36), nullable=True),
    Index("ix_line_promises_line", "order_id", "line_no"),
)

# The aggregator's latest estimate of each supplier's next batch release (for promises and availability).
supplier_release_estimates = Table(
    "supplier_release_estimates",
    metadata,
    Column("supplier_id", String(64), primary_key=True),
    Column("expected_release_at", UtcDateTime, nullable=False),
    # Set while the batch is empty: a first backorder waits this long from its own arrival.
    Column("first_line_wait_seconds", Float, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    # Where the batch stood at that estimate (routing); null from an aggregator that does not tell it.
    Column("pending_units", Integer, nullable=True),
    Column("pending_value", Money, nullable=True),
    Column("min_units", Integer, nullable=True),
    Column("min_value", Money, nullable=True),
    Column("next_cutoff_at", UtcDateTime, nullable=True),
)

# Surplus case-pack units the aggregator ordered for the merchant's own warehouse, until received.
incoming_stock = Table(
    "incoming_stock",
    metadata,
    Column("po_number", String(32), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("quantity", Integer, nullable=False),
    Column("ordered_at", UtcDateTime, nullable=False),
    Column("line_no", Integer, nullable=True),  # the PO line, named by the supplier's shipment notice
    Column("received_qty", Integer, nullable=False, default=0, server_default="0"),
    # When the units should be in the warehouse: ordered + lead time + receiving delay, then shipped + the delay.
    Column("expected_at", UtcDateTime, nullable=True),
    Column("shipped_at", UtcDateTime, nullable=True),
    Index("ix_incoming_stock_sku", "sku"),
)

# Every receipt of stock into the warehouse, once per key (an operator's Idempotency-Key, or PO and line).
stock_receipts = Table(
    "stock_receipts",
    metadata,
    Column("receipt_key", String(200), primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("po_number", String(32), nullable=True),
    Column("source", String(20), nullable=False),  # operator | shipment_notice
    Column("received_at", UtcDateTime, nullable=False),
)

# Units set aside from received stock for a backordered line while the aggregator takes it out of its batch.
stock_withdrawals = Table(
    "stock_withdrawals",
    metadata,
    Column("backorder_line_id", String(80), primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
)

consolation_credits = Table(
    "consolation_credits",
    metadata,
    Column("order_id", String(40), primary_key=True),
    Column("line_no", Integer, primary_key=True),  # one credit per line, ever
    Column("amount", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", String(300), nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
)

# The built-in payment provider's ledger: authorizations, captures and releases (voids).
payment_ledger = Table(
    "payment_ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", String(40), nullable=False, index=True),
    Column("line_no", Integer, nullable=True),
    Column("kind", String(16), nullable=False),
    Column("amount", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reference", String(200), nullable=False, unique=True),
    Column("recorded_at", UtcDateTime, nullable=False),
)

# The customer-message outbox: one row per message and channel, delivered by a background loop.
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_key", String(200), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("order_id", String(40), nullable=False, index=True),
    Column("line_no", Integer, nullable=True),
    Column("recipient", String(254), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("context", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime, nullable=True),
    Column("last_error", String(500), nullable=True),
    # Recorded before a message is sent: who is sending it and since when (cleared once it went or failed).
    Column("claimed_by", String(200), nullable=True),
    Column("in_flight_since", UtcDateTime, nullable=True),
    # W3C trace context of the order's trace the message was written in (tracing on): its sending continues it
    Column("traceparent", String(55), nullable=True),
    UniqueConstraint("message_key", "channel"),
    Index("ix_notifications_due", "sent_at", "next_attempt_at"),
)
