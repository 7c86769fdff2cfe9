"""RFC 9457 problem bodies for every error a service answers (the `shared.errors` family and the rest)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from shared.errors import ServiceError

log = logging.getLogger(__name__)
PROBLEM_TYPE_BASE = "https://touchpoint.dev/problems/"


class Problem(ServiceError):
    """A `shared.errors.ServiceError` with its status and title given in place, for answers that have no
    class of their own (401, 403, 414, ...); prefer `NotFound`, `Conflict`, `Invalid` where one fits."""

    def __init__(self, status: int, title: str, detail: str = "", errors: dict[str, Any] | None = None,
                 kind: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail, errors, title=title, headers=headers)
        self.status = status
        self.kind = kind


def problem_response(status: int, title: str, detail: str = "", errors: dict[str, Any] | None = None,
                     kind: str | None = None, headers: dict[str, str] | None = None) -> Response:
    """Build an `application/problem+json` response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + kind if kind else "about:blank",
        "title": title,
        "status": status,
        "instance": request.path if request else None,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _flatten_webargs(messages: Any) -> dict[str, Any]:
    """webargs nests errors under the request location ("json", "query"); keep the field names."""
    if not isinstance(messages, dict):
        return {"_schema": messages}
    flat: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[location if location != "json" else "_body"] = fields
    return flat


def _field_names(errors: dict[str, Any]) -> list[str]:
    return [name for name in errors if not name.startswith("_")]


def register_problem_handlers(app: Flask) -> None:
    """Answer every HTTP error and every unexpected exception with a problem body."""

    @app.errorhandler(ServiceError)
    def on_service_error(exc: ServiceError) -> Response:
        return problem_response(exc.status, exc.title, exc.detail, exc.errors, exc.kind, exc.headers)

    @app.errorhandler(HTTPException)
    def on_http(exc: HTTPException) -> Response:
        data = getattr(exc, "data", None) or {}
        messages = data.get("messages")
        if messages is not None:
            errors = _flatten_webargs(messages)
            names = _field_names(errors)
            if "_body" in errors and not names:
                detail = "; ".join(str(m) for m in errors["_body"]) if isinstance(errors["_body"], list) \
                    else str(errors["_body"])
                return problem_response(400, "Malformed request body", detail, errors, "malformed-body")
            detail = f"invalid field(s): {', '.join(names)}" if names else "request failed validation"
            return problem_response(422, "Validation failed", detail, errors, "validation")
        return problem_response(exc.code or 500, exc.name, exc.description or "", None, None,
                                # only Allow: copying every header would carry werkzeug's text/html type along
                                {"Allow": exc.get_response().headers.get("Allow", "")} if exc.code == 405 else None)

    @app.errorhandler(Exception)
    def on_unexpected(exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.path})
        return problem_response(500, "Internal Server Error", "an unexpected error occurred; it has been logged")
