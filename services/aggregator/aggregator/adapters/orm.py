"""The aggregator database schema (SQLAlchemy Core tables; the migrations create them)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    false,
)

from dropship_shared.db import Money, UtcDateTime
from dropship_shared.tables import inbox_table, operator_actions_table, outbox_table

metadata = MetaData(info={"service": "aggregator"})
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
operator_actions = operator_actions_table(metadata)

suppliers = Table(
    "suppliers",
    metadata,
    Column("supplier_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("configured", Boolean, nullable=False, default=False),
    # The current policy (JSON of SupplierPolicy) and its version; history in supplier_policy_versions.
    Column("policy", JSON, nullable=True),
    Column("policy_version", Integer, nullable=False, default=0),
    # Batch state: every change to a supplier's batch happens under a lock on this row.
    Column("batch_version", Integer, nullable=False, default=0),
    Column("held", Boolean, nullable=False, default=False),
    Column("escalated_at", UtcDateTime, nullable=True),
    Column("cutoff_checked_through", UtcDateTime, nullable=True),
    Column("last_release_at", UtcDateTime, nullable=True),
    Column("next_check_at", UtcDateTime, nullable=True, index=True),
    Column("arrival_units", Float, nullable=False, default=0.0),
    Column("arrival_updated_at", UtcDateTime, nullable=True),
    # Units that left the batch before release (cancelled, withdrawn), decayed like the arrivals.
    Column("departure_units", Float, nullable=False, default=0.0, server_default="0"),
    Column("departure_updated_at", UtcDateTime, nullable=True),
    # Figures for the dashboard, refreshed with each change.
    Column("pending_lines", Integer, nullable=False, default=0),
    Column("pending_units", Integer, nullable=False, default=0),
    Column("pending_value", Money, nullable=False, default=0),
    Column("oldest_received_at", UtcDateTime, nullable=True),
    Column("expected_release_at", UtcDateTime, nullable=True),
    # Set while the batch is empty: how long a first backorder is expected to wait (published to orders).
    Column("first_line_wait_seconds", Float, nullable=True),
    # What a release by minimum would order now and what stops it, from the decision's own code.
    Column("releasable_units", Integer, nullable=False, default=0, server_default="0"),
    Column("releasable_value", Money, nullable=False, default=0, server_default="0"),
    Column("minimum_met", Boolean, nullable=False, default=False, server_default=false()),
    Column("blocked_by", JSON, nullable=True),
)

supplier_policy_versions = Table(
    "supplier_policy_versions",
    metadata,
    Column("supplier_id", String(64), ForeignKey("suppliers.supplier_id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("policy", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

backorder_lines = Table(
    "backorder_lines",
    metadata,
    Column("backorder_line_id", String(80), primary_key=True),
    Column("supplier_id", String(64), nullable=False),
    # pending | released | cancelled (a cancellation that arrived first leaves a tombstone)
    Column("status", String(16), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("supplier_sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_cost", Money, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("details", JSON, nullable=False),
    Column("po_number", String(32), nullable=True),
    Column("po_line_no", Integer, nullable=True),
    # The W3C trace context of the span the line arrived in (tracing on): the release that takes the line links it,
    # so a PO released later (deadline, cut-off, operator) can be found from the order's trace.
    Column("traceparent", String(55), nullable=True),
    Index("ix_backorder_lines_pending", "supplier_id", "status"),
)

purchase_orders = Table(
    "purchase_orders",
    metadata,
    Column("po_number", String(32), primary_key=True),
    Column("supplier_id", String(64), nullable=False, index=True),
    Column("created_at", UtcDateTime, nullable=False, index=True),
    Column("release_reason", String(32), nullable=False),
    Column("below_minimum", Boolean, nullable=False),
    Column("policy_version", Integer, nullable=False),
    Column("part", Integer, nullable=False),
    Column("parts", Integer, nullable=False),
    Column("total_units", Integer, nullable=False),
    Column("total_value", Money, nullable=False),
    # The numbers behind a release for the small-order fee (WaitingCost.as_record); None otherwise.
    Column("release_figures", JSON, nullable=True),
)

purchase_order_lines = Table(
    "purchase_order_lines",
    metadata,
    Column("po_number", String(32), ForeignKey("purchase_orders.po_number"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("backorder_line_id", String(80), nullable=True),
    Column("sku", String(64), nullable=False),
    Column("supplier_sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_cost", Money, nullable=False),
    Column("surplus", Boolean, nullable=False),
)

# One row: the last PO number handed out (locked while numbering, so replicas never collide).
po_counter = Table(
    "po_counter",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last_number", Integer, nullable=False),
)
