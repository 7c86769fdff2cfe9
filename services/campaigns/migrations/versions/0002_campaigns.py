"""campaigns, versions, templates, contact projections, enrollments and send measurements

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

ID = 128


def _ts(name, nullable=False, default=True):
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable,
                     server_default=sa.func.now() if default else None)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("campaign_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("definition", JSONB, nullable=False),
        sa.Column("version", sa.Integer),
        sa.Column("entry_type", sa.String(16), nullable=False),
        sa.Column("event_type", sa.String(64)),
        _ts("created_at"), _ts("updated_at"),
    )
    op.create_index("ix_campaigns_trigger", "campaigns", ["status", "event_type"])
    op.create_table(
        "campaign_versions",
        sa.Column("campaign_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("definition", JSONB, nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("campaign_id", "version", name="pk_campaign_versions"),
    )
    op.create_table(
        "templates",
        sa.Column("template_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("subject", sa.Text),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("html", sa.Text),
        _ts("created_at"), _ts("updated_at"),
    )
    op.create_table(
        "contacts",
        sa.Column("contact_id", sa.String(ID), primary_key=True),
        sa.Column("external_id", sa.String(255)),
        sa.Column("email", sa.String(320)),
        sa.Column("phone", sa.String(64)),
        sa.Column("first_name", sa.String(200)),
        sa.Column("last_name", sa.String(200)),
        sa.Column("locale", sa.String(35)),
        sa.Column("time_zone", sa.String(64)),
        sa.Column("attributes", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        _ts("updated_at", default=False),
    )
    op.create_table(
        "consents",
        sa.Column("contact_id", sa.String(ID), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("changed_at", default=False),
        sa.PrimaryKeyConstraint("contact_id", "channel", name="pk_consents"),
    )
    op.create_table(
        "suppressions",
        sa.Column("suppression_id", sa.String(ID), primary_key=True),
        sa.Column("contact_id", sa.String(ID), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("value", sa.String(200)),
        sa.Column("reason", sa.String(32), nullable=False),
        _ts("expires_at", nullable=True, default=False),
        sa.Column("active", sa.Boolean, nullable=False),
        _ts("changed_at", default=False),
    )
    op.create_index("ix_suppressions_contact_id", "suppressions", ["contact_id"])
    op.create_table(
        "contact_events",
        sa.Column("event_id", sa.String(ID), primary_key=True),
        sa.Column("contact_id", sa.String(ID), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        _ts("occurred_at", default=False),
        sa.Column("data", JSONB, nullable=False),
    )
    op.create_index("ix_contact_events_contact", "contact_events", ["contact_id", "occurred_at"])
    op.create_table(
        "enrollments",
        sa.Column("enrollment_id", sa.String(36), primary_key=True),
        sa.Column("campaign_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("contact_id", sa.String(ID), nullable=False),
        sa.Column("occurrence", sa.String(ID), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("current_step", sa.String(128)),
        _ts("waiting_until", nullable=True, default=False),
        sa.Column("step_outcomes", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("variant", sa.String(64)),
        sa.Column("trigger_event", JSONB),
        sa.Column("reason", sa.String(300)),
        _ts("enrolled_at"),
        _ts("ended_at", nullable=True, default=False),
        sa.UniqueConstraint("campaign_id", "contact_id", "occurrence", name="uq_enrollments_occurrence"),
    )
    op.create_index("ix_enrollments_contact", "enrollments", ["contact_id", "status"])
    op.create_index("uq_enrollments_active", "enrollments", ["campaign_id", "contact_id"], unique=True,
                    postgresql_where=sa.text("status = 'active'"))
    op.create_table(
        "step_sends",
        sa.Column("request_id", sa.String(ID), primary_key=True),
        sa.Column("enrollment_id", sa.String(36), nullable=False),
        sa.Column("campaign_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("step_id", sa.String(128), nullable=False),
        sa.Column("contact_id", sa.String(ID), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("variant", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(300)),
        _ts("requested_at"), _ts("updated_at"),
    )
    op.create_index("ix_step_sends_campaign", "step_sends", ["campaign_id", "step_id"])
    op.create_table(
        "send_outcomes",
        sa.Column("request_id", sa.String(ID), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(300)),
        sa.Column("rule_id", sa.String(128)),
        _ts("decided_at", default=False),
        sa.PrimaryKeyConstraint("request_id", "outcome", name="pk_send_outcomes"),
    )
    op.create_table(
        "broadcast_runs",
        sa.Column("campaign_id", sa.String(36), nullable=False),
        sa.Column("occurrence", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("segment_id", sa.String(ID), nullable=False),
        sa.Column("pages", sa.Integer, nullable=False, server_default="0"),
        sa.Column("enrolled", sa.Integer, nullable=False, server_default="0"),
        _ts("started_at"),
        _ts("finished_at", nullable=True, default=False),
        sa.PrimaryKeyConstraint("campaign_id", "occurrence", name="pk_broadcast_runs"),
    )


def downgrade() -> None:
    for table in ("broadcast_runs", "send_outcomes", "step_sends", "enrollments", "contact_events", "suppressions",
                  "consents", "contacts", "templates", "campaign_versions", "campaigns"):
        op.drop_table(table)
