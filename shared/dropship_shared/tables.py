"""The outbox, inbox and operator-action tables, added to each service's own metadata (each service owns its
database)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from dropship_shared.db import UtcDateTime


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("event_type", String(100), nullable=False),
        Column("correlation_id", String(100), nullable=False),
        Column("body", Text, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("published_at", UtcDateTime, nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Index("ix_outbox_unpublished", "published_at", "id"),
    )


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(100), nullable=False),
        Column("event_id", String(36), nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("processed_at", UtcDateTime, nullable=False),
        PrimaryKeyConstraint("consumer", "event_id"),
    )


def operator_actions_table(metadata: MetaData) -> Table:
    """The audit log: who (the token's subject) did what to which target, when."""
    return Table(
        "operator_actions",
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("occurred_at", UtcDateTime, nullable=False),
        Column("subject", String(200), nullable=False),
        Column("action", String(60), nullable=False),
        Column("target", String(200), nullable=False),
        Column("details", Text, nullable=False),
        Column("correlation_id", String(100), nullable=False),
        Index("ix_operator_actions_occurred_at", "occurred_at"),
    )
