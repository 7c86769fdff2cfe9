"""due entries, recurring schedules, paused owners

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "due_entries",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.String(255), nullable=False, unique=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_type", sa.String(64), nullable=False),
        sa.Column("key", sa.String(128)),
        sa.Column("owner", sa.String(128)),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("settled_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("state IN ('pending', 'published', 'cancelled')", name="ck_due_entries_state"),
    )
    op.create_index("ix_due_entries_pending_due", "due_entries", ["due_at", "id"],
                    postgresql_where=sa.text("state = 'pending' AND NOT paused"))
    op.create_index("ix_due_entries_owner", "due_entries", ["owner"], postgresql_where=sa.text("owner IS NOT NULL"))
    op.create_index("ix_due_entries_settled", "due_entries", ["settled_at"],
                    postgresql_where=sa.text("state <> 'pending'"))
    op.create_table(
        "recurring_schedules",
        sa.Column("schedule_id", sa.String(128), primary_key=True),
        sa.Column("owner", sa.String(128)),
        sa.Column("at", sa.DateTime(timezone=True)),
        sa.Column("cron", sa.String(128)),
        sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
        sa.Column("message_type", sa.String(64), nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("next_fire_at", sa.DateTime(timezone=True)),
        sa.Column("last_fired_at", sa.DateTime(timezone=True)),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_recurring_next_fire", "recurring_schedules", ["next_fire_at"],
                    postgresql_where=sa.text("next_fire_at IS NOT NULL AND NOT paused"))
    op.create_index("ix_recurring_owner", "recurring_schedules", ["owner"])
    op.create_table(
        "paused_owners",
        sa.Column("owner", sa.String(128), primary_key=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("paused_owners")
    op.drop_table("recurring_schedules")
    op.drop_table("due_entries")
