"""audit trail: the append-only audit_log (shared.audit.log)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""
from shared.db.audit_migration import create_audit_log_v1, drop_audit_log_v1

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_log_v1()


def downgrade() -> None:
    drop_audit_log_v1()
