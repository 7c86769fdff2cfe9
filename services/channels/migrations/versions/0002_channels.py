"""channels: policy rules, contact copy, decisions, touches, deliveries, call tasks, offers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Frozen DDL (generated once from the repository tables): a later change is a new migration.
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STATEMENTS = [
    """CREATE TABLE policy_rules (
    id SERIAL NOT NULL,
    document JSONB NOT NULL,
    version INTEGER DEFAULT '1' NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    PRIMARY KEY (id)
)""",
    """CREATE TABLE contact_policy (
    contact_id VARCHAR(128) NOT NULL,
    time_zone VARCHAR(64),
    email VARCHAR(320),
    phone VARCHAR(32),
    first_name VARCHAR(200),
    last_name VARCHAR(200),
    erased BOOLEAN DEFAULT false NOT NULL,
    profile_updated_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    PRIMARY KEY (contact_id)
)""",
    """CREATE INDEX ix_contact_policy_email ON contact_policy (email)""",
    """CREATE INDEX ix_contact_policy_phone ON contact_policy (phone)""",
    """CREATE TABLE suppressions (
    contact_id VARCHAR(128) NOT NULL,
    suppression_id VARCHAR(128) NOT NULL,
    scope VARCHAR(16) NOT NULL,
    value VARCHAR(128),
    reason VARCHAR(32) NOT NULL,
    expires_at TIMESTAMP WITH TIME ZONE,
    active BOOLEAN NOT NULL,
    changed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_suppressions PRIMARY KEY (contact_id, suppression_id)
)""",
    """CREATE TABLE consents (
    contact_id VARCHAR(128) NOT NULL,
    channel VARCHAR(32) NOT NULL,
    status VARCHAR(16) NOT NULL,
    changed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_consents PRIMARY KEY (contact_id, channel)
)""",
    """CREATE TABLE decisions (
    id BIGSERIAL NOT NULL,
    request_id VARCHAR(128) NOT NULL,
    attempt INTEGER NOT NULL,
    contact_id VARCHAR(128) NOT NULL,
    channel VARCHAR(32) NOT NULL,
    category VARCHAR(16) NOT NULL,
    campaign_id VARCHAR(128),
    step_id VARCHAR(128),
    occurrence VARCHAR(128),
    outcome VARCHAR(16) NOT NULL,
    reason VARCHAR(200) NOT NULL,
    rule_id VARCHAR(128),
    detail TEXT DEFAULT '' NOT NULL,
    defer_until TIMESTAMP WITH TIME ZONE,
    decided_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_decisions_request_attempt UNIQUE (request_id, attempt)
)""",
    """CREATE INDEX ix_decisions_campaign ON decisions (campaign_id, decided_at)""",
    """CREATE INDEX ix_decisions_contact ON decisions (contact_id, decided_at)""",
    """CREATE UNIQUE INDEX uq_decisions_final ON decisions (request_id) WHERE outcome <> 'deferred'""",
    """CREATE TABLE touches (
    id BIGSERIAL NOT NULL,
    request_id VARCHAR(128) NOT NULL,
    contact_id VARCHAR(128) NOT NULL,
    channel VARCHAR(32) NOT NULL,
    category VARCHAR(16) NOT NULL,
    campaign_id VARCHAR(128),
    step_id VARCHAR(128),
    occurrence VARCHAR(128),
    topic VARCHAR(128),
    at TIMESTAMP WITH TIME ZONE NOT NULL,
    state VARCHAR(16) NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (request_id)
)""",
    """CREATE INDEX ix_touches_contact_at ON touches (contact_id, at)""",
    """CREATE UNIQUE INDEX uq_touches_step_occurrence ON touches (campaign_id, step_id, contact_id, coalesce(occurrence, '')) WHERE campaign_id IS NOT NULL AND step_id IS NOT NULL AND state IN ('reserved', 'sent')""",
    """CREATE TABLE deliveries (
    id BIGSERIAL NOT NULL,
    request_id VARCHAR(128) NOT NULL,
    touch_id BIGINT NOT NULL,
    contact_id VARCHAR(128) NOT NULL,
    channel VARCHAR(32) NOT NULL,
    category VARCHAR(16) NOT NULL,
    state VARCHAR(16) NOT NULL,
    attempts INTEGER DEFAULT '0' NOT NULL,
    next_attempt_at TIMESTAMP WITH TIME ZONE NOT NULL,
    lease_until TIMESTAMP WITH TIME ZONE,
    provider_id VARCHAR(200),
    detail TEXT,
    request JSONB,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (request_id)
)""",
    """CREATE INDEX ix_deliveries_contact ON deliveries (contact_id)""",
    """CREATE INDEX ix_deliveries_due ON deliveries (channel, state, next_attempt_at)""",
    """CREATE INDEX ix_deliveries_provider ON deliveries (provider_id)""",
    """CREATE TABLE call_tasks (
    id BIGSERIAL NOT NULL,
    request_id VARCHAR(128) NOT NULL,
    contact_id VARCHAR(128) NOT NULL,
    campaign_id VARCHAR(128),
    priority INTEGER DEFAULT '0' NOT NULL,
    status VARCHAR(16) NOT NULL,
    script JSONB,
    claimed_by VARCHAR(64),
    claimed_at TIMESTAMP WITH TIME ZONE,
    completed_at TIMESTAMP WITH TIME ZONE,
    outcome VARCHAR(64),
    notes TEXT,
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (request_id)
)""",
    """CREATE INDEX ix_call_tasks_queue ON call_tasks (status, priority, created_at)""",
    """CREATE TABLE offers (
    id BIGSERIAL NOT NULL,
    request_id VARCHAR(128) NOT NULL,
    contact_id VARCHAR(128) NOT NULL,
    campaign_id VARCHAR(128),
    priority INTEGER DEFAULT '0' NOT NULL,
    status VARCHAR(16) NOT NULL,
    content JSONB,
    expires_at TIMESTAMP WITH TIME ZONE,
    responded_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (request_id)
)""",
    """CREATE INDEX ix_offers_contact ON offers (contact_id, status)""",
]

TABLES = ['policy_rules', 'contact_policy', 'suppressions', 'consents', 'decisions', 'touches', 'deliveries', 'call_tasks', 'offers']


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
