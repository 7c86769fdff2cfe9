"""api key changes move to the one audit trail: audit_log (shared.audit.log) replaces api_key_audit

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Every service database records its changes in `audit_log`; the auth database now does too, so
there is one audit mechanism (table, append-only trigger, `GET /audit`-style reading). The rows
of `api_key_audit` are copied over in their order (action `api_key.create` / `api_key.revoke`,
the key's name and role as the record's `after`), then the old table goes.
"""
from alembic import op

from shared.db.audit_migration import create_audit_log_v1, drop_audit_log_v1

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_log_v1()
    op.execute("""
        INSERT INTO audit_log (at, actor_key_id, actor_name, actor_role, action, entity_type, entity_id, details)
        SELECT at, actor_key_id, actor_name, actor_role, 'api_key.' || action, 'api_key', key_id,
               jsonb_build_object('after', jsonb_build_object('name', key_name, 'role', key_role))
        FROM api_key_audit ORDER BY id
    """)
    op.drop_table("api_key_audit")  # DROP is not a row or TRUNCATE event: the old triggers go with it
    op.execute("DROP FUNCTION api_key_audit_append_only()")


def downgrade() -> None:
    drop_audit_log_v1()
