"""wake the import worker: NOTIFY touchpoint_imports when a job is queued

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

A statement that inserts queued import jobs (POST /imports) sends one notification, delivered at
commit; the import worker (`ImportRunner`, woken by a `NotifyListener`, services/contacts/service.py)
starts the job at once instead of finding it at its next poll. A trigger, so the API handler needs
no part in it.
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CHANNEL = "touchpoint_imports"


def upgrade() -> None:
    op.execute(f"""
        CREATE FUNCTION import_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM queued WHERE status = 'queued') THEN
                PERFORM pg_notify('{CHANNEL}', '');
            END IF;
            RETURN NULL;
        END $$""")
    op.execute("CREATE TRIGGER import_jobs_insert_notify AFTER INSERT ON import_jobs REFERENCING NEW TABLE AS queued "
               "FOR EACH STATEMENT EXECUTE FUNCTION import_jobs_notify()")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS import_jobs_insert_notify ON import_jobs")
    op.execute("DROP FUNCTION IF EXISTS import_jobs_notify()")
