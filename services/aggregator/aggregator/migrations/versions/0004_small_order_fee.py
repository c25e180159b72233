"""small-order fee rule: units leaving batches before release; the figures behind a release for the fee

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 17:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("suppliers", sa.Column("departure_units", sa.Float(), server_default="0", nullable=False))
    op.add_column("suppliers", sa.Column("departure_updated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("purchase_orders", sa.Column("release_figures", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("purchase_orders", "release_figures")
    op.drop_column("suppliers", "departure_updated_at")
    op.drop_column("suppliers", "departure_units")
