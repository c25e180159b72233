"""The orders database schema (SQLAlchemy Core tables; the migrations create them)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Integer, MetaData, String, Table, UniqueConstraint

from dropship_shared.db import Money, UtcDateTime
from dropship_shared.tables import inbox_table, outbox_table

metadata = MetaData(info={"service": "orders"})
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)

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
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", String(40), primary_key=True),
    Column("customer_email", String(254), nullable=False),
    Column("ship_to", JSON, nullable=False),
    Column("placed_at", UtcDateTime, nullable=False),
    Column("idempotency_key", String(200), nullable=True, unique=True),
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
