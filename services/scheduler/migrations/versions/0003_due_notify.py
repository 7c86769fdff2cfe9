"""wake the poll job: NOTIFY touchpoint_scheduler with the soonest due time a statement made pending

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Every statement that inserts or updates due entries or broadcast schedules (the consumers, the API,
pause/resume, the poll job itself) sends one notification carrying the earliest due time, as epoch
seconds, among the rows it left pending and unpaused; none when there is no such row. PostgreSQL
delivers it at commit. The poll job (services/scheduler/poller.py) sleeps until its next known due
time and wakes early only for a sooner one, so it does not poll while nothing is due. A trigger,
not the repository, so no path that writes these tables can forget it.
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CHANNEL = "touchpoint_scheduler"

FUNCTIONS = {
    "scheduler_entries_notify": "SELECT min(due_at) INTO soonest FROM changed WHERE state = 'pending' AND NOT paused",
    "scheduler_schedules_notify": "SELECT min(next_fire_at) INTO soonest FROM changed WHERE NOT paused",
}
TRIGGERS = (("due_entries", "scheduler_entries_notify"), ("recurring_schedules", "scheduler_schedules_notify"))


def upgrade() -> None:
    for name, query in FUNCTIONS.items():
        op.execute(f"""
            CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE soonest timestamptz;
            BEGIN
                {query};
                IF soonest IS NOT NULL THEN
                    PERFORM pg_notify('{CHANNEL}', extract(epoch FROM soonest)::text);
                END IF;
                RETURN NULL;
            END $$""")
    for table, function in TRIGGERS:
        # A transition table belongs to one event, so INSERT and UPDATE each get their trigger.
        for event in ("INSERT", "UPDATE"):
            op.execute(f"CREATE TRIGGER {table}_{event.lower()}_notify AFTER {event} ON {table} "
                       f"REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION {function}()")


def downgrade() -> None:
    for table, _function in TRIGGERS:
        for event in ("insert", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{event}_notify ON {table}")
    for name in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {name}()")
