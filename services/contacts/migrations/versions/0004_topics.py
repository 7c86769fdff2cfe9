"""the preference center's topic catalogue

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

One row per topic campaigns use (`key` is a campaign's `topic`), with its label per language; the
preference center (/p/<token>) lists them for the contact to tick.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "topics",
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("labels", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("topics")
