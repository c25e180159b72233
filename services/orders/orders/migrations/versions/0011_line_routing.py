"""line routing: each line's route (re-routes, suppliers tried, the decision) and where each supplier's batch stands

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 19:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dropship_shared.db import Money

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("order_lines", sa.Column("route_no", sa.Integer(), server_default="0", nullable=False))
    op.add_column("order_lines", sa.Column("tried_suppliers", sa.JSON(), nullable=True))
    op.add_column("order_lines", sa.Column("routing", sa.JSON(), nullable=True))
    op.add_column("order_lines", sa.Column("awaits_operator", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("supplier_release_estimates", sa.Column("pending_units", sa.Integer(), nullable=True))
    op.add_column("supplier_release_estimates", sa.Column("pending_value", Money(), nullable=True))
    op.add_column("supplier_release_estimates", sa.Column("min_units", sa.Integer(), nullable=True))
    op.add_column("supplier_release_estimates", sa.Column("min_value", Money(), nullable=True))
    op.add_column("supplier_release_estimates", sa.Column("next_cutoff_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for column in ("next_cutoff_at", "min_value", "min_units", "pending_value", "pending_units"):
        op.drop_column("supplier_release_estimates", column)
    for column in ("awaits_operator", "routing", "tried_suppliers", "route_no"):
        op.drop_column("order_lines", column)
