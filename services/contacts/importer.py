"""The bulk import worker: claims queued jobs (SKIP LOCKED) and upserts their rows in chunks.

This module coordinates; the use cases are in handlers/imports.py and the SQL in repository/imports.py.
Rows are read in file order and normalised in batches, beside this process in a pool of processes
(import_rows.py). Each chunk of ~1,000 rows is then one transaction (`handlers.imports.apply_chunk`):
look up the chunk's keys once, plan the upsert in plain Python (domain/importing.py), write contacts
with one INSERT .. ON CONFLICT over arrays, the chunk's `contact.upserted` outbox rows with one COPY,
record the rejections and advance the job's progress. A worker that dies leaves the job `running` with an old heartbeat;
another worker takes it over and resumes after the last committed chunk, so no row is applied twice.
"""

from __future__ import annotations

import logging
import os
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from services.contacts.handlers.imports import Superseded, apply_chunk, claim_job, finish_job
from services.contacts.import_rows import ImportFailed, Item, normalised_batches, read_batches
from services.contacts.unit_of_work import ContactsUnitOfWorkFactory
from shared.config import Settings
from shared.periodic import PeriodicTask

log = logging.getLogger(__name__)
# Tries of one chunk that lost a race with a concurrent writer (see ImportRunner._apply).
CHUNK_ATTEMPTS = 3
_RACE_STATES = {"23505", "40P01"}  # unique_violation, deadlock_detected


def lost_a_race(exc: IntegrityError | OperationalError) -> bool:
    """Whether a chunk's failure is a concurrent writer's doing (worth a retry), not the database going away."""
    return _sqlstate(exc) in _RACE_STATES


def _sqlstate(exc: IntegrityError | OperationalError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


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
        self.uow_factory = ContactsUnitOfWorkFactory(engine, settings.service)
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

    def claim(self) -> Any:
        """Take the oldest queued job, or one whose worker stopped beating; None when there is none."""
        with self.uow_factory() as uow:
            return claim_job(uow, self.stale_after)

    def process(self, job: Any) -> None:
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

    def _apply(self, job: Any, chunk: list[Item], bytes_read: int) -> Any:
        for attempt in range(1, CHUNK_ATTEMPTS + 1):
            try:
                with self.uow_factory() as uow:
                    return apply_chunk(uow, job, chunk, bytes_read)
            except (IntegrityError, OperationalError) as exc:
                # A contact created through the API or another import between our lookup and our
                # insert took a key (a unique violation), or two chunks inserting the same new keys in
                # opposite orders waited on each other (a deadlock PostgreSQL broke by aborting us):
                # a retry re-reads the keys and updates the winner's contact instead. A deadlock
                # victim's retry may still find the winner uncommitted, wait, then violate: a third try.
                if attempt == CHUNK_ATTEMPTS or not lost_a_race(exc):
                    raise
                log.info("import chunk retried after a concurrent writer",
                         extra={"job_id": job.id, "attempt": attempt, "sqlstate": _sqlstate(exc)})
        raise AssertionError("unreachable")

    def _finish(self, job: Any, status: str, error: str | None = None) -> None:
        with self.uow_factory() as uow:
            finish_job(uow, job, status, error)
        if status in ("done", "failed"):
            Path(job.file_path).unlink(missing_ok=True)
        log.info("import finished", extra={"job_id": job.id, "status": status, "error": error})
