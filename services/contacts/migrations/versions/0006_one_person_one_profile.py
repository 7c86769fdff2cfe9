"""one person, one profile: live contacts unique by email and by phone; merged contacts are tombstones

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

`merged_into` marks a contact folded into another by POST /contacts/{id}/merge: the row stays as a
tombstone (its external_id and email still route events and imports to the survivor) and leaves
the set of live contacts. Two partial unique indexes hold "one live contact per normalised email
and per E.164 phone", so two concurrent creates or imports cannot both win.

An existing database may already hold live duplicates. The migration does not fold them itself
(which profile survives is a business decision, and a merge publishes `contact.merged` for the
other services, which a migration cannot do): it stops with a message listing every duplicate
email and phone and the contact ids that share it (oldest first). With the previous version still
running, PATCH the newer profiles of each group so they no longer share the value (or erase them),
then migrate again; once migrated, POST /contacts/{id}/merge folds such profiles properly.
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

LIVE = "erased_at IS NULL AND merged_into IS NULL"
LISTED = 50  # duplicates named in the message; the count says how many more there are


def _duplicates(column: str) -> list[tuple[str, list[str]]]:
    rows = op.get_bind().execute(sa.text(
        f"SELECT {column}, array_agg(id ORDER BY created_at, id) FROM contacts "
        f"WHERE {column} IS NOT NULL AND {LIVE} GROUP BY {column} HAVING count(*) > 1 ORDER BY {column}"))
    return [(value, list(ids)) for value, ids in rows]


def upgrade() -> None:
    op.add_column("contacts", sa.Column("merged_into", sa.String(length=36), nullable=True))
    found = {column: _duplicates(column) for column in ("email", "phone")}
    if any(found.values()):
        lines = [f"  {column} {value}: contacts {', '.join(ids)}"
                 for column, duplicates in found.items() for value, ids in duplicates[:LISTED]]
        total = sum(len(d) for d in found.values())
        raise RuntimeError(
            f"contacts migration 0006 needs live contacts to be unique by email and by phone, but {total} "
            f"value(s) are shared (the first {LISTED} per field listed):\n" + "\n".join(lines) +
            "\nWith the previous version running, PATCH the newer contacts of each group so they no longer "
            "share the value (or erase them), then run the migration again (docs/contacts.md, "
            "'One person, one profile').")
    op.create_index("uq_contacts_email_live", "contacts", ["email"], unique=True,
                    postgresql_where=sa.text(f"email IS NOT NULL AND {LIVE}"))
    op.create_index("uq_contacts_phone_live", "contacts", ["phone"], unique=True,
                    postgresql_where=sa.text(f"phone IS NOT NULL AND {LIVE}"))
    op.create_index("ix_contacts_merged_into", "contacts", ["merged_into"],
                    postgresql_where=sa.text("merged_into IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_contacts_merged_into", table_name="contacts")
    op.drop_index("uq_contacts_phone_live", table_name="contacts")
    op.drop_index("uq_contacts_email_live", table_name="contacts")
    op.drop_column("contacts", "merged_into")
