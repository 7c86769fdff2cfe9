"""audit trail: the append-only audit_log (shared.audit.log)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""
from shared.db.audit_migration import create_audit_log_v1, drop_audit_log_v1

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_log_v1()


def downgrade() -> None:
    drop_audit_log_v1()
