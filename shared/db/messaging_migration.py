"""Migration operations for the outbox and inbox tables, for each service's first migration.

A frozen snapshot: a later change to these tables gets a new function and a new migration,
never an edit here, so old migrations keep meaning what they meant.

Each service's `migrations/versions/0001_messaging.py` is the same ten lines calling these two
functions. That copy is on purpose (the `duplicates` tool lists it): Alembic finds revisions only as
files in each service's own migrations folder and version table, so every service needs its own.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def create_messaging_tables_v1() -> None:
    """Create `outbox` and `inbox` as of version 1."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(64), nullable=False, unique=True),
        sa.Column("routing_key", sa.String(255), nullable=False),
        sa.Column("partition_key", sa.String(128)),
        sa.Column("message_type", sa.String(255), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"])
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(128), nullable=False),
        sa.Column("message_id", sa.String(128), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("consumer", "message_id", name="pk_inbox"),
    )


def drop_messaging_tables_v1() -> None:
    """Drop `outbox` and `inbox`."""
    op.drop_table("inbox")
    op.drop_table("outbox")
