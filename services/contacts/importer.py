"""The bulk import worker: claims queued jobs (SKIP LOCKED) and upserts their rows in chunks.

Rows are read in file order and normalised in batches, beside this process in a pool of processes
(import_rows.py). Each chunk of ~1,000 rows is then one transaction: look up the chunk's keys once,
plan the upsert in plain Python (domain/importing.py), write contacts with one INSERT .. ON CONFLICT
over arrays, the chunk's `contact.upserted` outbox rows with one more, record the rejections and
advance the job's progress. A worker that dies leaves the job `running` with an old heartbeat;
another worker takes it over and resumes after the last committed chunk, so no row is applied twice.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    Engine,
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
from sqlalchemy.exc import IntegrityError, OperationalError

from services.contacts.domain.contact import CONTACT_FIELDS
from services.contacts.domain.ids import new_id
from services.contacts.domain.importing import ContactIndex, KnownContact, plan_chunk
from services.contacts.handlers.common import now, upserted_payload
from services.contacts.import_rows import ImportFailed, Item, normalised_batches, read_batches
from services.contacts.repository import TABLES, contacts, import_jobs, import_rejections
from shared.config import Settings
from shared.messaging import Message, UnitOfWork, UnitOfWorkFactory
from shared.messaging.outbox import NOTIFY_CHANNEL
from shared.periodic import PeriodicTask

log = logging.getLogger(__name__)


class Superseded(Exception):
    """Another worker took the job over (this one was presumed dead); stop without touching it."""


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
LOOKUP = select(contacts.c.id, contacts.c.external_id, contacts.c.email, contacts.c.phone).where(or_(
    contacts.c.external_id == any_(bindparam("external_ids", type_=ARRAY(String))),
    contacts.c.email == any_(bindparam("emails", type_=ARRAY(String))),
    contacts.c.phone == any_(bindparam("phones", type_=ARRAY(String))),
)).order_by(contacts.c.id)


OUTBOX_COPY = f"COPY {TABLES.outbox.name} (message_id, routing_key, partition_key, message_type, version, body) FROM STDIN"


def announce(conn: Connection, messages: list[Message]) -> None:
    """Write a chunk's messages to the outbox in this transaction with one COPY.

    UnitOfWork.flush sends one row per message (executemany); COPY streams the chunk in one go and
    psycopg formats its rows in C. The relay and the transactional guarantee are the same: NOTIFY
    and the rows take effect at commit, or not at all.
    """
    if not messages:
        return
    conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
    with conn.connection.driver_connection.cursor() as cursor, cursor.copy(OUTBOX_COPY) as copy:
        for m in messages:
            copy.write_row((m.id, m.routing_key, m.key, m.type, m.version, m.to_body()))


def apply_chunk(uow: UnitOfWork, job: Row, items: list[Item], bytes_read: int) -> Row:
    """Upsert one chunk's rows, record its rejections, announce every contact, advance the job."""
    conn = uow.conn
    # psycopg prepares a statement after 5 runs and PostgreSQL may then keep a generic plan made
    # while the table was still empty (a sequential scan), which turns a large import quadratic.
    conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    rows = [row for _, row, _ in items if row is not None]
    keys = {key: [r.values[key] for r in rows if r.values.get(key)] for key in ("external_id", "email", "phone")}
    known = conn.execute(LOOKUP, {"external_ids": keys["external_id"], "emails": keys["email"],
                                  "phones": keys["phone"]}).all() if rows else []
    plan = plan_chunk(rows, ContactIndex(KnownContact(*k) for k in known), new_id)
    stamp = now()
    if plan.upserts:
        params: dict[str, Any] = {"stamp": stamp, "id": list(plan.upserts)}
        for name in CONTACT_FIELDS:
            params[name] = [values.get(name) for values in plan.upserts.values()]
        params["attributes"] = [json.dumps(values.get("attributes", {})) for values in plan.upserts.values()]
        announce(conn, [Message(type="contact.upserted", payload=upserted_payload(row), key=row.id,
                                source=uow.source) for row in conn.execute(UPSERT, params)])
    rejections = [{"job_id": job.id, "row_number": n, "reason": reason[:1000]} for n, row, reason in items if row is None]
    if rejections:
        conn.execute(pg_insert(import_rejections).on_conflict_do_nothing(), rejections)
    moved = conn.execute(update(import_jobs).where(
        import_jobs.c.id == job.id, import_jobs.c.rows_processed == job.rows_processed, import_jobs.c.status == "running",
    ).values(rows_processed=items[-1][0], created=import_jobs.c.created + plan.created,
             updated=import_jobs.c.updated + plan.updated, rejected=import_jobs.c.rejected + len(rejections),
             bytes_processed=bytes_read, heartbeat_at=stamp).returning(*import_jobs.c)).first()
    if moved is None:
        raise Superseded(job.id)
    return moved


class ImportRunner(PeriodicTask):
    """Background task of the worker: runs queued import jobs one at a time.

    Polls every `poll_seconds` while idle and at once after a job; a failed pass (a database
    outage) is logged with its traceback and retried after 2 s, backing off to 30 s.
    """

    def __init__(self, settings: Settings, engine: Engine, chunk_size: int = 1000, poll_seconds: float = 0.5,
                 stale_after: timedelta = timedelta(minutes=2)) -> None:
        super().__init__("import runner pass", self.run_next, interval=poll_seconds, first_backoff=2.0,
                         max_backoff=30.0, logger=log)
        self.engine = engine
        self.uow_factory = UnitOfWorkFactory(engine, TABLES, settings.service)
        self.chunk_size = int(settings.extra.get("import_chunk_size") or chunk_size)
        # Normalising rows is the import's CPU cost: by default one process per core does it
        # beside this one (CONTACTS_IMPORT_PROCESSES; 1 keeps it in this process).
        self.processes = int(settings.extra.get("import_processes") or min(4, os.cpu_count() or 1))
        self.poll_seconds = poll_seconds
        self.stale_after = stale_after

    def run_next(self) -> float | None:
        """Claim and run one job; wait the poll interval when there is none, else go on at once."""
        job = self.claim()
        if job is None:
            return None
        self.process(job)
        return 0.0

    def claim(self) -> Row | None:
        """Take the oldest queued job, or one whose worker stopped beating; None when there is none."""
        with self.engine.begin() as conn:
            stale = now() - self.stale_after
            job = conn.execute(select(import_jobs).where(or_(
                import_jobs.c.status == "queued",
                (import_jobs.c.status == "running") & (import_jobs.c.heartbeat_at < stale),
            )).order_by(import_jobs.c.created_at).limit(1).with_for_update(skip_locked=True)).first()
            if job is None:
                return None
            stamp = now()
            return conn.execute(update(import_jobs).where(import_jobs.c.id == job.id).values(
                status="running", started_at=func.coalesce(import_jobs.c.started_at, stamp), heartbeat_at=stamp,
            ).returning(*import_jobs.c)).first()

    def process(self, job: Row) -> None:
        """Run one claimed job to the end (or until stopped, when it goes back to the queue)."""
        log.info("import started", extra={"job_id": job.id, "resume_after_row": job.rows_processed})
        try:
            with open(job.file_path, "rb") as raw, closing(normalised_batches(
                    read_batches(raw, job.format, job.phone_region, self.chunk_size, after=job.rows_processed),
                    self.processes)) as chunks:
                for items, position in chunks:
                    # the last batch has no position: the exhausted reader has closed the file
                    job = self._apply(job, items, job.bytes if position is None else position)
                    if self.stopping and position is not None:
                        self._finish(job, "queued")
                        return
        except Superseded:
            log.warning("import taken over by another worker", extra={"job_id": job.id})
            return
        except (ImportFailed, OSError) as exc:
            self._finish(job, "failed", str(exc))
            return
        except OperationalError:
            raise  # the database is away: the job stays claimed and is resumed once it is back
        except Exception as exc:  # a bug or bad data we did not foresee must fail the job, not loop on it
            log.exception("import failed", extra={"job_id": job.id})
            self._finish(job, "failed", f"{exc.__class__.__name__}: {exc}"[:2000])
            return
        self._finish(job, "done")

    def _apply(self, job: Row, chunk: list[Item], bytes_read: int) -> Row:
        for attempt in (1, 2):
            try:
                with self.uow_factory() as uow:
                    return apply_chunk(uow, job, chunk, bytes_read)
            except IntegrityError:
                # A contact created through the API between our lookup and our insert took a key:
                # one retry re-reads the keys and updates that contact instead.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _finish(self, job: Row, status: str, error: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(import_jobs).where(import_jobs.c.id == job.id).values(
                status=status, error=error, heartbeat_at=now(),
                finished_at=now() if status in ("done", "failed") else None,
                bytes_processed=import_jobs.c.bytes if status == "done" else import_jobs.c.bytes_processed))
        if status in ("done", "failed"):
            Path(job.file_path).unlink(missing_ok=True)
        log.info("import finished", extra={"job_id": job.id, "status": status, "error": error})
