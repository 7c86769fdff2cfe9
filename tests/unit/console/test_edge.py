"""The console under the shared request guard: every refusal is an HTML page, never a trace or a JSON body."""

from __future__ import annotations

import time
from types import SimpleNamespace

from tests.unit.console.fakes import csrf, sign_in


def _page(answer, status: int, *words: str) -> str:
    html = answer.get_data(as_text=True)
    assert answer.status_code == status, html[:500]
    assert answer.mimetype == "text/html" and "<h1>" in html and "Traceback" not in html
    for word in words:
        assert word in html, word
    return html


def test_the_request_target_is_guarded_before_anything_else(app):
    client = app.test_client()
    sign_in(client, "tp_agent")
    _page(client.get("/agent/tasks?contact_id=" + "x" * 9000), 414, "URI Too Long", "8160")
    _page(client.get("/agent/tasks?contact_id=a%01b"), 422, "contact_id", "control character")
    _page(client.get("/agent/tasks?campaign_id=%ff"), 422, "campaign_id", "not valid UTF-8")
    _page(client.get("/contacts/a%00b"), 404)
    token = csrf(client.get("/agent/tasks"))
    _page(client.post("/agent/tasks/99999999999999999999/claim", data={"csrf_token": token}), 404)


def test_only_urlencoded_forms_are_posted_and_refused_characters_never_reach_a_service(app, services):
    client = app.test_client()
    sign_in(client, "tp_agent")
    token = csrf(client.get("/agent/tasks"))
    answer = client.post("/agent/tasks/7/complete", json={"csrf_token": token, "outcome": "no_answer"})
    _page(answer, 415, "Unsupported Media Type", "application/x-www-form-urlencoded")
    assert answer.headers["Accept-Post"] == "application/x-www-form-urlencoded"
    _page(client.post("/agent/tasks/7/complete", data={"csrf_token": token, "outcome": "no_answer",
                                                      "notes": "rang \x07 twice"}), 422, "notes", "U+0007")
    bad_utf8 = b"csrf_token=" + token.encode() + b"&outcome=no_answer&notes=%C3%28"
    _page(client.post("/agent/tasks/7/complete", data=bad_utf8, content_type="application/x-www-form-urlencoded"),
          422, "notes", "not valid UTF-8")
    assert not any(path.endswith("/complete") for _, _, path, _ in services.calls)
    # line breaks and tabs are what people type in notes
    done = client.post("/agent/tasks/7/complete", data={"csrf_token": token, "outcome": "no_answer",
                                                         "notes": "line one\r\nline\ttwo"})
    assert done.status_code == 302


def test_bad_input_and_expired_sessions_on_a_form_get_friendly_pages(app, monkeypatch):
    client = app.test_client()
    sign_in(client, "tp_agent")
    token = csrf(client.get("/agent/tasks"))
    _page(client.post("/agent/tasks/7/complete", data={"csrf_token": token, "outcome": "Not An Outcome"}), 422,
          "Choose an outcome", "Nothing was changed")
    _page(client.get("/agent/tasks/7/claim"), 405)
    monkeypatch.setattr("services.console.auth.time", SimpleNamespace(time=lambda: time.time() + 3600))
    _page(client.post("/agent/tasks/7/claim", data={"csrf_token": token}), 401, "Your session has ended")


def test_an_oversized_form_is_a_413_page(app, services):
    client = app.test_client()
    sign_in(client, "tp_agent")
    token = csrf(client.get("/agent/tasks"))
    answer = client.post("/agent/tasks/7/complete", data={"csrf_token": token, "outcome": "no_answer",
                                                          "notes": "x" * 300_000})
    _page(answer, 413)
    assert not any(path.endswith("/complete") for _, _, path, _ in services.calls)
