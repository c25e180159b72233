"""receiving stock: incoming units received, receipts, withdrawals from batches, lines awaiting incoming units

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("incoming_stock", sa.Column("line_no", sa.Integer(), nullable=True))
    op.add_column("incoming_stock", sa.Column("received_qty", sa.Integer(), server_default="0", nullable=False))
    op.add_column("incoming_stock", sa.Column("expected_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("incoming_stock", sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_incoming_stock_sku", "incoming_stock", ["sku"])
    op.add_column("order_lines", sa.Column("awaits_incoming", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "stock_receipts",
        sa.Column("receipt_key", sa.String(length=200), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("po_number", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("receipt_key"),
    )
    op.create_table(
        "stock_withdrawals",
        sa.Column("backorder_line_id", sa.String(length=80), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("backorder_line_id"),
    )


def downgrade() -> None:
    op.drop_table("stock_withdrawals")
    op.drop_table("stock_receipts")
    op.drop_column("order_lines", "awaits_incoming")
    op.drop_index("ix_incoming_stock_sku", table_name="incoming_stock")
    for column in ("shipped_at", "expected_at", "received_qty", "line_no"):
        op.drop_column("incoming_stock", column)
