"""channels: planned sends (the look-ahead rule) and the plan a capped decision yielded to

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Issue 13 point 2: one row per message planned for a contact and not sent yet, a drip send step waiting in
the scheduler (from campaigns' `send.planned`) or a request the gate deferred, read by the gate with the
contact's policy state. `state` is live or ended (sent, cancelled); `changed_at` orders the facts, so a
late or repeated `send.planned` never revives a plan that ended after it was made. `decisions.yielded_to`
names the plan a look-ahead decision gave way to.
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

STATEMENTS = [
    """CREATE TABLE planned_sends (
    plan_id VARCHAR(160) NOT NULL,
    contact_id VARCHAR(128) NOT NULL,
    channel VARCHAR(32) NOT NULL,
    category VARCHAR(16) NOT NULL,
    priority INTEGER NOT NULL,
    due_at TIMESTAMP WITH TIME ZONE NOT NULL,
    campaign_id VARCHAR(128),
    step_id VARCHAR(128),
    occurrence VARCHAR(128),
    request_id VARCHAR(128),
    live BOOLEAN NOT NULL,
    changed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_planned_sends PRIMARY KEY (plan_id)
)""",
    "CREATE INDEX ix_planned_sends_contact ON planned_sends (contact_id, due_at) WHERE live",
    "CREATE INDEX ix_planned_sends_campaign ON planned_sends (campaign_id) WHERE live",
    "CREATE INDEX ix_planned_sends_due ON planned_sends (due_at)",
    "ALTER TABLE decisions ADD COLUMN yielded_to VARCHAR(160)",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("ALTER TABLE decisions DROP COLUMN yielded_to")
    op.drop_table("planned_sends")
