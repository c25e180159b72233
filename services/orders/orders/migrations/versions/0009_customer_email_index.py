"""customer email index: the operators' case-insensitive search by customer email reads an index, not the table

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_orders_customer_email_lower", "orders", [sa.func.lower(sa.column("customer_email"))])


def downgrade() -> None:
    op.drop_index("ix_orders_customer_email_lower", table_name="orders")
