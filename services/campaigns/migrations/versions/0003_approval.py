"""campaign revisions and approvals: who last changed a campaign, and who approved which revision

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = ("revision", "changed_by", "approval_required", "approved_revision", "approved_by", "approved_by_name",
           "approved_at")


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("revision", sa.Integer, nullable=False, server_default="1"))
    op.add_column("campaigns", sa.Column("changed_by", sa.String(64)))
    op.add_column("campaigns", sa.Column("approval_required", sa.Boolean, nullable=False,
                                         server_default=sa.false()))
    op.add_column("campaigns", sa.Column("approved_revision", sa.Integer))
    op.add_column("campaigns", sa.Column("approved_by", sa.String(64)))
    op.add_column("campaigns", sa.Column("approved_by_name", sa.String(200)))
    op.add_column("campaigns", sa.Column("approved_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    for name in reversed(COLUMNS):
        op.drop_column("campaigns", name)
