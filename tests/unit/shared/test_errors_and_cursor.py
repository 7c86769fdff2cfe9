"""One error family mapped to problem bodies, and one opaque cursor refused the same way everywhere."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask

from shared.errors import BadCursor, Conflict, Invalid, MalformedBody, NotFound, ServiceError
from shared.http.cursor import aware_datetime, decode_cursor, encode_cursor, next_page
from shared.http.problems import Problem, register_problem_handlers


def answer(exc: Exception) -> tuple[int, str, dict]:
    """What the shared problem handler answers when a view raises `exc` (no server, no I/O)."""
    app = Flask("t")
    register_problem_handlers(app)

    @app.get("/x")
    def view():
        raise exc

    response = app.test_client().get("/x")
    return response.status_code, response.mimetype, response.get_json()


@pytest.mark.parametrize(("exc", "status", "title", "kind"), [
    (NotFound("no campaign 7"), 404, "Not Found", "not-found"),
    (Conflict("archived"), 409, "Conflict", "conflict"),
    (Conflict("paused", kind="paused"), 409, "Conflict", "paused"),
    (MalformedBody("body must be a JSON object"), 400, "Malformed request body", "malformed-body"),
    (Invalid("bad", {"name": ["required"]}, title="Invalid template"), 422, "Invalid template", "validation"),
    (Problem(403, "Forbidden", "no", kind="forbidden"), 403, "Forbidden", "forbidden"),
])
def test_each_error_becomes_its_problem_body(exc: ServiceError, status: int, title: str, kind: str) -> None:
    code, mimetype, body = answer(exc)
    assert (code, mimetype) == (status, "application/problem+json")
    assert body["title"] == title and body["status"] == status and body["detail"] == exc.detail
    assert body["type"] == f"https://touchpoint.dev/problems/{kind}" and body["instance"] == "/x"


def test_invalid_names_its_fields() -> None:
    _, _, body = answer(Invalid.fields({"email": "not an address", "age": "a number"}))
    assert body["detail"] == "invalid field(s): age, email"
    assert body["errors"] == {"email": ["not an address"], "age": ["a number"]}
    assert Invalid.field("owner", "1 to 128 characters").errors == {"owner": ["1 to 128 characters"]}


def test_a_problem_without_kind_is_about_blank() -> None:
    _, _, body = answer(Problem(401, "Unauthorized", "a key is needed"))
    assert body["type"] == "about:blank" and "errors" not in body


def test_cursors_round_trip_their_position() -> None:
    at = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    token = encode_cursor({"at": at, "id": 42, "after": "c-9"})
    assert "=" not in token and "/" not in token and "+" not in token
    assert decode_cursor(token, {"at": aware_datetime, "id": int, "after": str}) == {"at": at, "id": 42, "after": "c-9"}
    assert decode_cursor(None, {"id": int}) is None and decode_cursor("", {"id": int}) is None


@pytest.mark.parametrize("token", [
    "garbage!",                                  # not base64
    "%%%",
    encode_cursor({"x": 1}),                     # other keys
    encode_cursor({"id": "1"}),                  # wrong type
    encode_cursor({"id": True}),                 # a bool is no id
    "WzFd",                                      # a JSON list, not an object
])
def test_a_foreign_cursor_is_a_400_naming_the_parameter(token: str) -> None:
    with pytest.raises(BadCursor) as caught:
        decode_cursor(token, {"id": int})
    code, _, body = answer(caught.value)
    assert code == 400 and body["title"] == "Bad cursor" and body["errors"] == {"cursor": ["invalid cursor"]}


def test_a_cursor_time_must_be_aware() -> None:
    with pytest.raises(BadCursor):
        decode_cursor(encode_cursor({"at": "2026-01-01T00:00:00"}), {"at": aware_datetime})
    with pytest.raises(BadCursor):
        decode_cursor(encode_cursor({"at": "x"}), {"at": aware_datetime})


def test_next_page_splits_the_extra_row_into_a_cursor() -> None:
    rows = [{"id": i} for i in range(1, 5)]
    page, token = next_page(rows, 3, lambda last: {"after": last["id"]})
    assert page == rows[:3] and decode_cursor(token, {"after": int}) == {"after": 3}
    assert next_page(rows[:3], 3, lambda last: {"after": last["id"]}) == (rows[:3], None)
    assert next_page([], 3, lambda last: {"after": last["id"]}) == ([], None)
