"""customer messages announced: on PostgreSQL a statement that stores messages notifies `customer_messages`

A sender of its own (MESSAGE_SENDER=separate, `python -m orders send-messages`) listens on the channel and claims
as soon as the storing transaction commits (a notification is delivered at commit, and not at all on a rollback).
The database does it, so the process that takes orders spends no statement on it. SQLite has no notifications:
its sender looks for messages instead.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 01:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION announce_customer_messages() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('customer_messages', '');
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER customer_messages_stored AFTER INSERT ON notifications "
        "FOR EACH STATEMENT EXECUTE FUNCTION announce_customer_messages()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER customer_messages_stored ON notifications")
    op.execute("DROP FUNCTION announce_customer_messages()")
