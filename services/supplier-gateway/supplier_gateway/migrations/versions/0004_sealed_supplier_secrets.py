"""supplier signing secrets sealed at rest

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 13:45:00

Existing plain secrets are sealed with SUPPLIER_SECRETS_KEY (the gateway's setting), so that key must be set
when a database with suppliers is upgraded.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from supplier_gateway.adapters.secret_box import SecretBox
from supplier_gateway.config import GatewaySettings

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

suppliers = sa.table("suppliers", sa.column("supplier_id", sa.String), sa.column("signing_secret", sa.String))


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # a sealed secret is longer; SQLite does not enforce lengths
        op.alter_column("suppliers", "signing_secret", type_=sa.String(500), existing_nullable=False)
    rows = op.get_bind().execute(sa.select(suppliers.c.supplier_id, suppliers.c.signing_secret)).all()
    if not rows:
        return
    box = SecretBox(GatewaySettings().supplier_secrets_key)
    for supplier_id, secret in rows:
        op.execute(
            suppliers.update().where(suppliers.c.supplier_id == supplier_id).values(signing_secret=box.seal(secret))
        )


def downgrade() -> None:
    rows = op.get_bind().execute(sa.select(suppliers.c.supplier_id, suppliers.c.signing_secret)).all()
    if rows:
        box = SecretBox(GatewaySettings().supplier_secrets_key)
        for supplier_id, sealed in rows:
            op.execute(
                suppliers.update().where(suppliers.c.supplier_id == supplier_id).values(signing_secret=box.open(sealed))
            )
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("suppliers", "signing_secret", type_=sa.String(200), existing_nullable=False)
