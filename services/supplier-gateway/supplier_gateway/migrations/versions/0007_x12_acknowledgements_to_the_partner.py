"""our 997s sent to a partner's own acknowledgement endpoint

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 17:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("suppliers") as batch:
        batch.add_column(sa.Column("x12_acknowledgement_url", sa.String(length=500), nullable=True))
    with op.batch_alter_table("x12_interchanges") as batch:
        batch.add_column(sa.Column("reply_delivery", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("reply_lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_x12_interchanges_reply_delivery", ["reply_delivery"])


def downgrade() -> None:
    with op.batch_alter_table("x12_interchanges") as batch:
        batch.drop_index("ix_x12_interchanges_reply_delivery")
        batch.drop_column("reply_lease_expires_at")
        batch.drop_column("reply_delivery")
    with op.batch_alter_table("suppliers") as batch:
        batch.drop_column("x12_acknowledgement_url")
