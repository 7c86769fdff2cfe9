"""Migration operations for `audit_log` (shared.audit.log), for each service database and the auth database.

A frozen snapshot, as `messaging_migration.py`: a later change gets a new function and a new
migration. Each database's `000N_audit.py` calls these two functions.

Why a trigger: services connect as the database owner (`postgres` in development and tests), and
GRANT/REVOKE do not bind an owner, so only a trigger makes the trail append-only for the services
themselves. It refuses DELETE and TRUNCATE always, and UPDATE except the erasure's redaction:
with `touchpoint.audit_redaction` set to `on` for the transaction (`SET LOCAL` / `set_config(...,
true)`), an UPDATE may change `details` and must set `redacted_at`; every other column must stay.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

APPEND_ONLY = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF current_setting('touchpoint.audit_redaction', true) = 'on' AND NEW.redacted_at IS NOT NULL
           AND (to_jsonb(NEW) - 'details' - 'redacted_at') = (to_jsonb(OLD) - 'details' - 'redacted_at') THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def create_audit_log_v1() -> None:
    """Create `audit_log`, its indexes and the triggers that keep it append-only."""
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_key_id", sa.String(32)),
        sa.Column("actor_name", sa.String(200)),
        sa.Column("actor_role", sa.String(32)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity_type", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(128), nullable=False),
        sa.Column("subject_id", sa.String(64)),
        sa.Column("details", JSONB),
        sa.Column("redacted_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_audit_log_entity", "audit_log", ["entity_type", "entity_id", "id"])
    op.create_index("ix_audit_log_subject", "audit_log", ["subject_id"], postgresql_where=sa.text("subject_id IS NOT NULL"))
    op.execute(APPEND_ONLY)
    op.execute("CREATE TRIGGER audit_log_no_rewrite BEFORE UPDATE OR DELETE ON audit_log "
               "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()")
    op.execute("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
               "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()")


def drop_audit_log_v1() -> None:
    """Drop `audit_log` and its trigger function."""
    op.drop_table("audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
