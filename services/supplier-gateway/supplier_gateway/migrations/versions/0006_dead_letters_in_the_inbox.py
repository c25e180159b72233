"""dead letters in the exceptions inbox

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 16:45:00

A dead letter belongs to no supplier (supplier_id may be null) and names the queue, the routing key and the
message id it can be replayed by.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("supplier_exceptions") as batch:
        batch.alter_column("supplier_id", existing_type=sa.String(length=64), nullable=True)
        batch.add_column(sa.Column("queue", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("routing_key", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("message_id", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM supplier_exceptions WHERE supplier_id IS NULL")
    with op.batch_alter_table("supplier_exceptions") as batch:
        batch.drop_column("message_id")
        batch.drop_column("routing_key")
        batch.drop_column("queue")
        batch.alter_column("supplier_id", existing_type=sa.String(length=64), nullable=False)
