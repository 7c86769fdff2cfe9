"""api key audit: an append-only record of every key change

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The audit trail is evidence: even the services' own database role must not rewrite it, so the
# database refuses UPDATE, DELETE and TRUNCATE itself instead of trusting every code path.
REFUSE = """
CREATE FUNCTION api_key_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'api_key_audit is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def upgrade() -> None:
    op.create_table(
        "api_key_audit",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("key_name", sa.String(200), nullable=False),
        sa.Column("key_role", sa.String(32), nullable=False),
        sa.Column("actor_key_id", sa.String(32)),
        sa.Column("actor_name", sa.String(200)),
        sa.Column("actor_role", sa.String(32)),
        sa.CheckConstraint("action IN ('create', 'revoke')", name="ck_api_key_audit_action"),
    )
    op.execute(REFUSE)
    op.execute("CREATE TRIGGER api_key_audit_no_rewrite BEFORE UPDATE OR DELETE ON api_key_audit "
               "FOR EACH ROW EXECUTE FUNCTION api_key_audit_append_only()")
    op.execute("CREATE TRIGGER api_key_audit_no_truncate BEFORE TRUNCATE ON api_key_audit "
               "FOR EACH STATEMENT EXECUTE FUNCTION api_key_audit_append_only()")
    # keys created before the trail existed: recorded once, with no actor (who made them is unknown)
    op.execute("INSERT INTO api_key_audit (at, action, key_id, key_name, key_role) "
               "SELECT created_at, 'create', key_id, name, role FROM api_keys ORDER BY created_at")
    op.execute("INSERT INTO api_key_audit (at, action, key_id, key_name, key_role) "
               "SELECT revoked_at, 'revoke', key_id, name, role FROM api_keys WHERE revoked_at IS NOT NULL "
               "ORDER BY revoked_at")


def downgrade() -> None:
    op.drop_table("api_key_audit")
    op.execute("DROP FUNCTION api_key_audit_append_only()")
