"""the exceptions inbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "supplier_exceptions",
        sa.Column("exception_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("supplier_id", sa.String(length=64), nullable=False),
        sa.Column("po_number", sa.String(length=64), nullable=True),
        sa.Column("line_no", sa.Integer(), nullable=True),
        sa.Column("backorder_line_id", sa.String(length=100), nullable=True),
        sa.Column("order_id", sa.String(length=100), nullable=True),
        sa.Column("detail", sa.String(length=1000), nullable=False),
        sa.Column("received", sa.Text(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_note", sa.String(length=1000), nullable=True),
        sa.Column("dedupe_key", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("exception_id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index("ix_supplier_exceptions_open", "supplier_exceptions", ["resolved_at", "opened_at"])
    op.create_index(op.f("ix_supplier_exceptions_supplier_id"), "supplier_exceptions", ["supplier_id"])
    op.create_index(op.f("ix_supplier_exceptions_po_number"), "supplier_exceptions", ["po_number"])
    op.create_index(op.f("ix_supplier_exceptions_order_id"), "supplier_exceptions", ["order_id"])


def downgrade() -> None:
    op.drop_table("supplier_exceptions")
