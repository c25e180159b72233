"""release estimate of an empty batch; batch progress as the release decision judges it

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dropship_shared.db import Money

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("suppliers", sa.Column("first_line_wait_seconds", sa.Float(), nullable=True))
    op.add_column("suppliers", sa.Column("releasable_units", sa.Integer(), server_default="0", nullable=False))
    op.add_column("suppliers", sa.Column("releasable_value", Money(), server_default="0", nullable=False))
    op.add_column("suppliers", sa.Column("minimum_met", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("suppliers", sa.Column("blocked_by", sa.JSON(), nullable=True))


def downgrade() -> None:
    for column in ("blocked_by", "minimum_met", "releasable_value", "releasable_units", "first_line_wait_seconds"):
        op.drop_column("suppliers", column)
