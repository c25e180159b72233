"""product offers: a product may be supplied by several suppliers; each product's supplier becomes its one offer

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dropship_shared.db import Money

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "product_offers",
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("supplier_id", sa.String(length=64), nullable=False),
        sa.Column("supplier_sku", sa.String(length=64), nullable=False),
        sa.Column("unit_cost", Money(), nullable=False),
        sa.Column("lead_time_days", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.PrimaryKeyConstraint("sku", "supplier_id"),
    )
    # Nothing changes for an existing catalog: each product's supplier is its one active offer.
    op.execute(
        "INSERT INTO product_offers (sku, supplier_id, supplier_sku, unit_cost, lead_time_days, priority, active) "
        "SELECT sku, supplier_id, supplier_sku, cost, lead_time_days, 0, true FROM products"
    )


def downgrade() -> None:
    op.drop_table("product_offers")
