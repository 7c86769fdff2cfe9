"""Bulk import of contacts from CSV or JSON lines, run by the worker in the background."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from services.contacts import schemas as s
from services.contacts.api import reading
from services.contacts.domain.contact import is_valid_region
from services.contacts.handlers import imports as handlers
from shared.errors import Invalid
from shared.http import roles_required
from shared.http.audit import record_change
from shared.http.context import service_context, unit_of_work

blp = Blueprint("imports", __name__, url_prefix="/imports", description="Bulk import")
IMPORTERS = ("ingest", "marketer")
CONTENT_TYPES = {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl",
                 "application/json-lines": "jsonl"}


def _format(query: dict, filename: str | None) -> str:
    if query.get("format"):
        return query["format"]
    if filename and filename.lower().endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if filename and filename.lower().endswith(".csv"):
        return "csv"
    fmt = CONTENT_TYPES.get(request.mimetype)
    if fmt is None:
        raise Invalid("say which format the upload is in", {"format": ["csv or jsonl (or send Content-Type "
                                                                      "text/csv / application/x-ndjson)"]})
    return fmt


@blp.route("")
class Imports(MethodView):
    """Start an import."""

    @roles_required(*IMPORTERS)
    @blp.arguments(s.ImportQuerySchema, location="query", unknown=RAISE)
    @blp.doc(requestBody={"required": True, "content": {
        **{media: {"schema": {"type": "string", "format": "binary"}}
           for media in (*CONTENT_TYPES, "application/octet-stream")},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"}}}}}})
    @blp.response(202, s.ImportJobSchema)
    def post(self, query):
        """Upload a file (raw body, or multipart field `file`); it is streamed to disk and queued.

        Rows are upserted by external_id, then email, then phone. Follow progress at GET /imports/{id}.
        """
        region = query.get("phone_region")
        if region and not is_valid_region(region):
            raise Invalid.fields({"phone_region": f"unknown region code {region!r}"})
        settings = service_context().settings
        limit = handlers.max_import_bytes(settings)
        request.max_content_length = limit  # imports may be far larger than ordinary bodies
        directory = handlers.import_dir(settings)
        if request.mimetype == "multipart/form-data":
            upload = request.files.get("file")
            if upload is None:
                raise Invalid("a multipart import needs a `file` field", {"file": ["missing"]})
            fmt = _format(query, upload.filename)
            path, size = handlers.save_upload(upload.stream, directory, fmt, limit)
        else:
            fmt = _format(query, None)
            path, size = handlers.save_upload(request.stream, directory, fmt, limit)
        try:
            with unit_of_work() as uow:
                job = handlers.queue_job(uow, path, size, fmt, region.upper() if region else None)
                record_change(uow, "import.create", "import", job["id"], after=job)
                return job
        except BaseException:
            path.unlink(missing_ok=True)
            raise


@blp.route("/<string:job_id>")
class ImportItem(MethodView):
    """One import."""

    @roles_required(*IMPORTERS)
    @blp.response(200, s.ImportJobSchema)
    def get(self, job_id):
        """Status and progress: rows processed, created, updated, rejected."""
        with reading() as uow:
            return handlers.get_job(uow, job_id)


@blp.route("/<string:job_id>/rejections")
class ImportRejections(MethodView):
    """Rows an import rejected."""

    @roles_required(*IMPORTERS)
    @blp.arguments(s.PageQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, s.RejectionPageSchema)
    def get(self, query, job_id):
        """Each rejected row's number and reason, in row order."""
        with reading() as uow:
            return handlers.rejections_page(uow, job_id, query["limit"], query.get("cursor"))
