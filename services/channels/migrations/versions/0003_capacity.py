"""channels: capacity counters and the claims that give capacity back when a touch is released

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Issue 13 point 1: one counter row per (capacity rule id, window start), locked by the gate while it
decides and incremented in the transaction that reserves the touches; one claim row per (touch, rule)
so the ledger's release gives the unit back to the window it was taken from.
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STATEMENTS = [
    """CREATE TABLE capacity_counters (
    rule_id VARCHAR(64) NOT NULL,
    window_start TIMESTAMP WITH TIME ZONE NOT NULL,
    used INTEGER DEFAULT '0' NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_capacity_counters PRIMARY KEY (rule_id, window_start),
    CONSTRAINT ck_capacity_counters_used CHECK (used >= 0)
)""",
    """CREATE TABLE capacity_claims (
    touch_id BIGINT NOT NULL,
    rule_id VARCHAR(64) NOT NULL,
    window_start TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_capacity_claims PRIMARY KEY (touch_id, rule_id)
)""",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("capacity_claims")
    op.drop_table("capacity_counters")
