"""The request guard every service's app runs: limits and media types checked once, not per view.

Two checks, at two moments:

- `check_request_target` (a before-request hook, before authentication): the request target is at
  most MAX_TARGET_BYTES (414 otherwise), and no path segment, query parameter or API-key header
  carries invalid UTF-8 or a control character (422 naming the parameter, 404 for the path).
- `admit_body` (called by `roles_required` once the role is admitted, and by self-authenticating
  views once their signature checks out): an endpoint that declares a request body accepts only
  the media types it declares (415 with `Accept-Post`/`Accept-Patch` otherwise), and a JSON body
  is read within the limits of `shared.http.json_input` (400 when it can't be read, 422 naming the
  field that holds a refused value). A view that answers per item (a batch) opts out of the 422
  with `@per_item_validation` and checks each item with `json_input.refused_values` itself.

Declared media types come from the OpenAPI documentation of the view, so the document and the
check can't disagree: `@blp.arguments(Schema)` declares application/json, `@blp.doc(requestBody=...)`
declares the content types it lists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, current_app, g, request
from werkzeug.routing import IntegerConverter

from shared.http.json_input import (
    MalformedJSON,
    might_hold_refused_values,
    parse_json,
    refused_string,
    refused_values,
)
from shared.http.problems import Problem

# gunicorn reads request lines of at most 8,190 bytes (its maximum, set in shared.http.gunicorn_conf);
# the target leaves room for the longest method and the protocol version, so every target the
# service accepts also fits the server, whichever server runs it.
MAX_TARGET_BYTES = 8_160
JSON = "application/json"
PER_ITEM_ATTR = "_touchpoint_per_item_validation"
_LOCATION_TYPES = {"json": (JSON,), "form": ("application/x-www-form-urlencoded", "multipart/form-data"),
                   "files": ("multipart/form-data",), "json_or_form": (JSON, "application/x-www-form-urlencoded",
                                                                       "multipart/form-data")}
_KEY_HEADERS = ("X-API-Key", "Authorization")


class Int64Converter(IntegerConverter):
    """`<int:...>` path segments that fit a BIGINT column; a larger number matches no route (404)."""

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = None,  # noqa: A002 - werkzeug's names
                 max: int | None = None, signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=2**63 - 1 if max is None else max,
                         signed=signed)


def per_item_validation(view: Callable) -> Callable:
    """Mark a batch view that rejects refused values item by item instead of the whole request."""
    setattr(view, PER_ITEM_ATTR, True)
    return view


def install_request_guard(app: Flask) -> None:
    """Bound path ids to 64 bits and check every request target before authentication."""
    app.url_map.converters["int"] = Int64Converter
    app.before_request(check_request_target)


def _problem_422(errors: dict[str, list[str]], where: str) -> Problem:
    names = ", ".join(sorted(errors))
    return Problem(422, "Validation failed", f"invalid {where}: {names}", errors=errors, kind="validation")


def _wsgi_bytes(text: str) -> bytes:
    """The raw bytes of a WSGI environ string (latin-1 text per PEP 3333; UTF-8 from a lenient server)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def refused_urlencoded(data: bytes, whole: str) -> dict[str, list[str]]:
    """The fields of urlencoded `data` (a query string, a form body) that hold a control character or
    invalid UTF-8, by name; a name that is itself invalid UTF-8 is reported under `whole`."""
    errors: dict[str, list[str]] = {}
    for pair in data.split(b"&"):
        name, _, value = pair.partition(b"=")
        try:
            name_text = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            errors[whole] = ["a name is not valid UTF-8"]
            continue
        try:
            value_text = unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            errors[name_text] = ["not valid UTF-8"]
            continue
        reason = refused_string(name_text) or refused_string(value_text)
        if reason:
            errors[repr(name_text)[1:-1]] = [reason]
    return errors


def check_request_target() -> None:
    """414 for an overlong target; 404/422 for control characters or bad UTF-8 in path, query or key."""
    environ = request.environ
    raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    # PATH_INFO is the raw bytes as latin-1 text (PEP 3333): one character per byte.
    target_bytes = max(len(raw_path), len(environ.get("PATH_INFO", "")) + len(environ.get("QUERY_STRING", "")) + 1)
    if target_bytes > MAX_TARGET_BYTES:
        raise Problem(414, "URI Too Long", f"the request target is {target_bytes} bytes; at most "
                      f"{MAX_TARGET_BYTES} are read (send long filters in a body where the endpoint takes one)",
                      kind="uri-too-long")
    if refused_string(request.path) or "\ufffd" in request.path:
        raise Problem(404, "Not Found", "no resource has a path with control characters or invalid UTF-8",
                      kind="not-found")
    errors = refused_urlencoded(_wsgi_bytes(environ.get("QUERY_STRING", "")), "_query")
    if errors:
        raise _problem_422(errors, "query parameter(s)")
    for header in _KEY_HEADERS:
        if refused_string(request.headers.get(header, "")):
            raise Problem(401, "Unauthorized", f"the {header} header holds a control character",
                          kind="unauthorized", headers={"WWW-Authenticate": 'Bearer realm="touchpoint"'})


def _endpoint_view(app: Flask, endpoint: str | None, method: str) -> Callable | None:
    view = app.view_functions.get(endpoint or "")
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        return getattr(view_class, method.lower(), None)
    return view


def declared_media_types(view: Callable | None) -> tuple[str, ...]:
    """The media types the documentation of a view declares for its request body (empty: no body)."""
    apidoc = getattr(view, "_apidoc", None) or {}
    types: list[str] = []
    for parameter in apidoc.get("arguments", {}).get("parameters", []):
        if "content_type" in parameter:
            types.append(parameter["content_type"])
        else:
            types.extend(_LOCATION_TYPES.get(parameter.get("in") or parameter.get("location", ""), ()))
    body = apidoc.get("manual_doc", {}).get("requestBody") or {}
    types.extend(body.get("content", {}))
    return tuple(dict.fromkeys(types))


def _is_json(mimetype: str) -> bool:
    return mimetype == JSON or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def _has_body() -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def admit_body() -> None:
    """Refuse a body of an undeclared media type (415) or a JSON body beyond the limits (400/422)."""
    view = _endpoint_view(current_app, request.endpoint, request.method)
    declared = declared_media_types(view)
    if not declared or (not _has_body() and not request.mimetype):
        return  # no body declared, or none sent: the view's schema decides what is missing
    # RFC 9110 §8.3: a body without Content-Type may be taken as application/octet-stream.
    mimetype = request.mimetype or "application/octet-stream"
    # JSON is one family: where a JSON type is declared, application/json and any application/*+json
    # (merge-patch+json, ...) are read alike, as webargs reads them.
    json_declared = any(_is_json(media) for media in declared)
    if mimetype not in declared and not (json_declared and _is_json(mimetype)):
        header = "Accept-Patch" if request.method == "PATCH" else "Accept-Post"
        raise Problem(415, "Unsupported Media Type",
                      f"this endpoint takes {', '.join(declared)}, not {request.mimetype or 'a body without Content-Type'}",
                      kind="unsupported-media-type", headers={header: ", ".join(declared)})
    if not _is_json(mimetype):
        return
    data = request.get_data(cache=True)
    try:
        g.json_body = parse_json(data)
    except MalformedJSON as exc:
        raise Problem(400, "Malformed request body", exc.detail, errors={"_body": [exc.detail]},
                      kind="malformed-body") from None
    if getattr(view, PER_ITEM_ATTR, False) or not might_hold_refused_values(data):
        return
    refused = refused_values(g.json_body)
    if refused:
        raise _problem_422(refused, "field(s)")


def json_body() -> Any:
    """The JSON body `admit_body` read for this request (None when none was sent)."""
    return g.get("json_body")
