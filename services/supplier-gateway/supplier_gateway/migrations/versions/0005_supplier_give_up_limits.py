"""per-supplier give-up limits of a down supplier's POs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 16:40:00

Null keeps the gateway-wide DISPATCH_GIVE_UP_ATTEMPTS / DISPATCH_GIVE_UP_SECONDS.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("suppliers") as batch:
        batch.add_column(sa.Column("give_up_attempts", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("give_up_seconds", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("suppliers") as batch:
        batch.drop_column("give_up_seconds")
        batch.drop_column("give_up_attempts")
