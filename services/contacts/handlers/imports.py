"""Import jobs as the API sees them: accept an upload onto disk, queue it, report progress and rejections."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection, select

from services.contacts.domain.ids import new_id
from services.contacts.repository import import_jobs, import_rejections
from shared.config import Settings
from shared.errors import NotFound, ServiceError
from shared.http.cursor import decode_cursor, next_page

COPY_BLOCK = 1 << 20
DEFAULT_MAX_IMPORT_BYTES = 4 << 30
JOB_COLUMNS = ("id", "status", "format", "phone_region", "bytes", "bytes_processed", "rows_processed", "created",
               "updated", "rejected", "error", "created_at", "started_at", "finished_at")


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


def queue_job(conn: Connection, path: Path, size: int, fmt: str, phone_region: str | None) -> dict[str, Any]:
    """Queue an import of a saved file; the worker picks it up."""
    job_id = path.stem
    row = conn.execute(import_jobs.insert().values(
        id=job_id, status="queued", format=fmt, file_path=os.fspath(path), phone_region=phone_region, bytes=size,
    ).returning(*import_jobs.c)).first()
    return job_view(row)


def job_view(row: Any) -> dict[str, Any]:
    """A job as the API shows it, with its progress as a fraction of bytes read."""
    view = {name: getattr(row, name) for name in JOB_COLUMNS}
    view["progress"] = 1.0 if row.status == "done" else round(row.bytes_processed / row.bytes, 4) if row.bytes else 0.0
    return view


def get_job(conn: Connection, job_id: str) -> dict[str, Any]:
    """One import job."""
    row = conn.execute(select(import_jobs).where(import_jobs.c.id == job_id)).first() if len(job_id) <= 36 else None
    if row is None:
        raise NotFound(f"no import {job_id[:64]!r}")
    return job_view(row)


def rejections_page(conn: Connection, job_id: str, limit: int, cursor: str | None) -> dict[str, Any]:
    """The job's rejected rows in row order, one page."""
    get_job(conn, job_id)
    query = select(import_rejections.c.row_number, import_rejections.c.reason) \
        .where(import_rejections.c.job_id == job_id).order_by(import_rejections.c.row_number).limit(limit + 1)
    position = decode_cursor(cursor, {"after": int})
    if position:
        query = query.where(import_rejections.c.row_number > position["after"])
    rows = conn.execute(query).all()
    page, next_cursor = next_page(rows, limit, lambda last: {"after": last.row_number})
    return {"items": [{"row": r.row_number, "reason": r.reason} for r in page], "next_cursor": next_cursor}
