"""`ImportJobs`: import jobs and their rejections, and the chunk writer's statements.

A chunk is written with few, fixed statements: one lookup of the chunk's keys, one upsert over
arrays, one COPY into the outbox, one insert of rejections and one conditional advance of the job.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    Row,
    String,
    TextClause,
    any_,
    bindparam,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.contacts.domain.contact import CONTACT_FIELDS
from services.contacts.repository.tables import TABLES, contacts, import_jobs, import_rejections
from shared.messaging import Message
from shared.messaging.outbox import NOTIFY_CHANNEL


def _upsert_statement() -> TextClause:
    # One statement with one array per column (unnest) instead of 1,000 VALUES tuples: its text never
    # changes, so neither PostgreSQL nor the driver parses a 12,000-parameter query per chunk.
    columns = ("id", *CONTACT_FIELDS)
    arrays = ", ".join(f"CAST(:{name} AS text[])" for name in columns)
    keep = ", ".join(f"{name} = COALESCE(EXCLUDED.{name}, contacts.{name})" for name in CONTACT_FIELDS)
    return text(f"""
        INSERT INTO contacts ({", ".join(columns)}, attributes, created_at, updated_at)
        SELECT *, CAST(:stamp AS timestamptz), CAST(:stamp AS timestamptz)
        FROM unnest({arrays}, CAST(CAST(:attributes AS text[]) AS jsonb[]))
        ON CONFLICT (id) DO UPDATE SET {keep},
            attributes = contacts.attributes || EXCLUDED.attributes, updated_at = EXCLUDED.updated_at
        RETURNING {", ".join(contacts.c.keys())}
    """)


UPSERT = _upsert_statement()
def _holds_a_key(table: Any) -> Any:
    return or_(
        table.c.external_id == any_(bindparam("external_ids", type_=ARRAY(String))),
        table.c.email == any_(bindparam("emails", type_=ARRAY(String))),
        table.c.phone == any_(bindparam("phones", type_=ARRAY(String))),
    )


_TOMBS = contacts.alias("tombs")  # an alias: the subquery must not correlate to the outer contacts
# The contacts holding a key, and the survivors of the tombstones among them (a row addressed to a
# merged contact lands on its survivor, whose own keys the chunk must know too).
LOOKUP = select(contacts.c.id, contacts.c.external_id, contacts.c.email, contacts.c.phone,
                contacts.c.merged_into).where(or_(
    _holds_a_key(contacts),
    contacts.c.id.in_(select(_TOMBS.c.merged_into).where(_holds_a_key(_TOMBS), _TOMBS.c.merged_into.is_not(None))),
)).order_by(contacts.c.id)
OUTBOX_COPY = f"COPY {TABLES.outbox.name} (message_id, routing_key, partition_key, message_type, version, body) FROM STDIN"


class ImportJobs:
    """The queries of the import use cases, bound to one transaction's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- jobs

    def queue(self, job_id: str, *, fmt: str, file_path: str, phone_region: str | None, size: int) -> Any:
        """Insert a queued job; its row."""
        return self.conn.execute(import_jobs.insert().values(
            id=job_id, status="queued", format=fmt, file_path=file_path, phone_region=phone_region, bytes=size,
        ).returning(*import_jobs.c)).first()

    def job(self, job_id: str) -> Any:
        """The job row, or None."""
        return self.conn.execute(select(import_jobs).where(import_jobs.c.id == job_id)).first()

    def rejections(self, job_id: str, *, after: int | None, limit: int) -> Sequence[Row]:
        """Up to `limit` rejected rows (row_number, reason) of a job after row `after`, in row order."""
        query = select(import_rejections.c.row_number, import_rejections.c.reason) \
            .where(import_rejections.c.job_id == job_id).order_by(import_rejections.c.row_number).limit(limit)
        if after is not None:
            query = query.where(import_rejections.c.row_number > after)
        return self.conn.execute(query).all()

    def claim(self, *, stale_before: datetime, stamp: datetime) -> Any:
        """Mark running and return the oldest queued job, or one whose heartbeat is older than `stale_before`.

        SKIP LOCKED: two workers claiming at once take different jobs. None when there is none.
        """
        job = self.conn.execute(select(import_jobs).where(or_(
            import_jobs.c.status == "queued",
            (import_jobs.c.status == "running") & (import_jobs.c.heartbeat_at < stale_before),
        )).order_by(import_jobs.c.created_at).limit(1).with_for_update(skip_locked=True)).first()
        if job is None:
            return None
        return self.conn.execute(update(import_jobs).where(import_jobs.c.id == job.id).values(
            status="running", started_at=func.coalesce(import_jobs.c.started_at, stamp), heartbeat_at=stamp,
        ).returning(*import_jobs.c)).first()

    def finish(self, job_id: str, status: str, error: str | None, stamp: datetime) -> None:
        """Set a job's end state (`queued` again when it was stopped); a done job has read all its bytes."""
        self.conn.execute(update(import_jobs).where(import_jobs.c.id == job_id).values(
            status=status, error=error, heartbeat_at=stamp,
            finished_at=stamp if status in ("done", "failed") else None,
            bytes_processed=import_jobs.c.bytes if status == "done" else import_jobs.c.bytes_processed))

    # -- the chunk writer

    def plan_each_statement(self) -> None:
        """Plan this transaction's statements for their parameters (PostgreSQL's custom plans).

        psycopg prepares a statement after 5 runs and PostgreSQL may then keep a generic plan made
        while the table was still empty (a sequential scan), which turns a large import quadratic.
        """
        self.conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))

    def known_contacts(self, external_ids: list[str], emails: list[str], phones: list[str]) -> Sequence[Row]:
        """(id, external_id, email, phone, merged_into) of the contacts holding any of these keys (and of
        the survivors of the merged ones among them), in id order."""
        return self.conn.execute(LOOKUP, {"external_ids": external_ids, "emails": emails, "phones": phones}).all()

    def upsert_contacts(self, upserts: dict[str, dict[str, Any]], stamp: datetime) -> Sequence[Row]:
        """Insert or merge contacts by id (given fields win, attributes merge); the rows written."""
        params: dict[str, Any] = {"stamp": stamp, "id": list(upserts)}
        for name in CONTACT_FIELDS:
            params[name] = [values.get(name) for values in upserts.values()]
        params["attributes"] = [json.dumps(values.get("attributes", {})) for values in upserts.values()]
        return self.conn.execute(UPSERT, params).all()

    def announce(self, messages: list[Message]) -> None:
        """Write a chunk's messages to the outbox in this transaction with one COPY.

        UnitOfWork.flush sends one row per message (executemany); COPY streams the chunk in one go and
        psycopg formats its rows in C. The relay and the transactional guarantee are the same: NOTIFY
        and the rows take effect at commit, or not at all.
        """
        if not messages:
            return
        self.conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
        with self.conn.connection.driver_connection.cursor() as cursor, cursor.copy(OUTBOX_COPY) as copy:
            for m in messages:
                copy.write_row((m.id, m.routing_key, m.key, m.type, m.version, m.to_body()))

    def add_rejections(self, rejections: list[dict[str, Any]]) -> None:
        """Record rejected rows (job_id, row_number, reason); a row recorded before is left alone."""
        if rejections:
            self.conn.execute(pg_insert(import_rejections).on_conflict_do_nothing(), rejections)

    def advance(self, job: Any, *, rows_processed: int, created: int, updated: int, rejected: int,
                bytes_processed: int, stamp: datetime) -> Any:
        """Move a running job's progress on from where `job` saw it; None if another worker moved it meanwhile."""
        return self.conn.execute(update(import_jobs).where(
            import_jobs.c.id == job.id, import_jobs.c.rows_processed == job.rows_processed,
            import_jobs.c.status == "running",
        ).values(rows_processed=rows_processed, created=import_jobs.c.created + created,
                 updated=import_jobs.c.updated + updated, rejected=import_jobs.c.rejected + rejected,
                 bytes_processed=bytes_processed, heartbeat_at=stamp).returning(*import_jobs.c)).first()
