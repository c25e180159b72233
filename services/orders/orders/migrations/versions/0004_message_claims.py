"""customer messages: who is sending a message and since when (recorded before it is sent)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 13:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as table:
        table.add_column(sa.Column("claimed_by", sa.String(length=200), nullable=True))
        table.add_column(sa.Column("in_flight_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as table:
        table.drop_column("in_flight_since")
        table.drop_column("claimed_by")
