"""Import jobs: accept an upload onto disk, queue it, report progress and rejections (the API's side);
claim a job, apply one chunk of its rows, finish it (the worker's side, driven by importer.ImportRunner).
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

from services.contacts.domain.ids import new_id
from services.contacts.domain.importing import ContactIndex, KnownContact, plan_chunk
from services.contacts.handlers.common import upserted_payload
from services.contacts.import_rows import Item
from services.contacts.unit_of_work import ContactsUnitOfWork
from shared.config import Settings
from shared.errors import NotFound, ServiceError
from shared.http.cursor import decode_cursor, next_page
from shared.messaging import Message

COPY_BLOCK = 1 << 20
DEFAULT_MAX_IMPORT_BYTES = 4 << 30
JOB_COLUMNS = ("id", "status", "format", "phone_region", "bytes", "bytes_processed", "rows_processed", "created",
               "updated", "rejected", "error", "created_at", "started_at", "finished_at")


class Superseded(Exception):
    """Another worker took the job over (this one was presumed dead); stop without touching it."""


class TooLarge(ServiceError):
    """An upload over the import size limit."""

    status, title, kind = 413, "Content Too Large", "too-large"


def import_dir(settings: Settings) -> Path:
    """Where uploads wait for the worker (CONTACTS_IMPORT_DIR; API and worker must share it)."""
    path = Path(settings.extra.get("import_dir") or Path(tempfile.gettempdir()) / "touchpoint-contacts-imports")
    path.mkdir(parents=True, exist_ok=True)
    return path


def max_import_bytes(settings: Settings) -> int:
    """The largest upload accepted (CONTACTS_IMPORT_MAX_BYTES)."""
    return int(settings.extra.get("import_max_bytes") or DEFAULT_MAX_IMPORT_BYTES)


def save_upload(stream: BinaryIO, directory: Path, fmt: str, limit: int) -> tuple[Path, int]:
    """Copy an upload to a file block by block (never whole in memory); return its path and size."""
    path = directory / f"{new_id()}.{fmt}"
    size = 0
    try:
        with open(path, "wb") as out:
            while block := stream.read(COPY_BLOCK):
                size += len(block)
                if size > limit:
                    raise TooLarge(f"imports are limited to {limit} bytes")
                out.write(block)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, size


def queue_job(uow: ContactsUnitOfWork, path: Path, size: int, fmt: str, phone_region: str | None) -> dict[str, Any]:
    """Queue an import of a saved file; the worker picks it up."""
    row = uow.imports.queue(path.stem, fmt=fmt, file_path=os.fspath(path), phone_region=phone_region, size=size)
    return job_view(row)


def job_view(row: Any) -> dict[str, Any]:
    """A job as the API shows it, with its progress as a fraction of bytes read."""
    view = {name: getattr(row, name) for name in JOB_COLUMNS}
    view["progress"] = 1.0 if row.status == "done" else round(row.bytes_processed / row.bytes, 4) if row.bytes else 0.0
    return view


def get_job(uow: ContactsUnitOfWork, job_id: str) -> dict[str, Any]:
    """One import job."""
    row = uow.imports.job(job_id) if len(job_id) <= 36 else None
    if row is None:
        raise NotFound(f"no import {job_id[:64]!r}")
    return job_view(row)


def rejections_page(uow: ContactsUnitOfWork, job_id: str, limit: int, cursor: str | None) -> dict[str, Any]:
    """The job's rejected rows in row order, one page."""
    get_job(uow, job_id)
    position = decode_cursor(cursor, {"after": int})
    rows = uow.imports.rejections(job_id, after=position["after"] if position else None, limit=limit + 1)
    page, next_cursor = next_page(rows, limit, lambda last: {"after": last.row_number})
    return {"items": [{"row": r.row_number, "reason": r.reason} for r in page], "next_cursor": next_cursor}


def claim_job(uow: ContactsUnitOfWork, stale_after: timedelta) -> Any:
    """Take the oldest queued job, or one whose worker stopped beating for `stale_after`; None when there is none."""
    return uow.imports.claim(stale_before=uow.clock.now() - stale_after, stamp=uow.clock.now())


def apply_chunk(uow: ContactsUnitOfWork, job: Any, items: list[Item], bytes_read: int) -> Any:
    """Upsert one chunk's rows, record its rejections, announce every contact, advance the job.

    The job row comes back advanced; Superseded if another worker moved the job on meanwhile.
    """
    imports = uow.imports
    imports.plan_each_statement()
    rows = [row for _, row, _ in items if row is not None]
    keys = {key: [r.values[key] for r in rows if r.values.get(key)] for key in ("external_id", "email", "phone")}
    known = imports.known_contacts(keys["external_id"], keys["email"], keys["phone"]) if rows else []
    plan = plan_chunk(rows, ContactIndex(KnownContact(*k) for k in known), new_id)
    stamp = uow.clock.now()
    if plan.upserts:
        imports.announce([Message(type="contact.upserted", payload=upserted_payload(row), key=row.id,
                                  source=uow.source) for row in imports.upsert_contacts(plan.upserts, stamp)])
    refused = [(n, reason) for n, row, reason in items if row is None] + plan.rejected
    rejections = [{"job_id": job.id, "row_number": n, "reason": reason[:1000]} for n, reason in sorted(refused)]
    imports.add_rejections(rejections)
    moved = imports.advance(job, rows_processed=items[-1][0], created=plan.created, updated=plan.updated,
                            rejected=len(rejections), bytes_processed=bytes_read, stamp=stamp)
    if moved is None:
        raise Superseded(job.id)
    return moved


def finish_job(uow: ContactsUnitOfWork, job: Any, status: str, error: str | None = None) -> None:
    """End a job as done or failed, or put it back in the queue (`queued`) when its worker stops."""
    uow.imports.finish(job.id, status, error, uow.clock.now())
