"""channels: the contact's locale in its copy of the contact (contact_policy.locale)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Issue 12: the footer the smtp adapter adds to a marketing email (the preference center link) is
written in the contact's language; `contact.upserted` already carries `locale`, channels now keeps it.
Contacts copied before this have none (English) until their next `contact.upserted`.
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE contact_policy ADD COLUMN locale VARCHAR(35)")


def downgrade() -> None:
    op.execute("ALTER TABLE contact_policy DROP COLUMN locale")
