"""the release estimate of an empty batch: a first backorder's wait

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 16:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("supplier_release_estimates", sa.Column("first_line_wait_seconds", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("supplier_release_estimates", "first_line_wait_seconds")
