"""The console's pages against fake services (unit level): sign-in, roles, CSRF, expiry and problem pages."""

from __future__ import annotations

import time
from types import SimpleNamespace

from services.console.client import ServiceError, ServiceUnavailable
from tests.unit.console.fakes import csrf as _csrf
from tests.unit.console.fakes import sign_in


def test_sign_in_keeps_the_key_out_of_the_page_and_the_cookie_is_strict(app):
    client = app.test_client()
    answer = sign_in(client, "tp_agent")
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = client.get("/agent/tasks")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "tp_agent" not in html and "Ada withdrew 25000" in html
    assert 'id="claim-7"' in html and "cursor=next-token" in html
    assert client.get("/").headers["Location"] == "/agent/tasks"


def test_a_wrong_key_gets_the_form_again_with_a_message(app):
    answer = sign_in(app.test_client(), "tp_nobody")
    assert answer.status_code == 401 and "not valid or has been revoked" in answer.get_data(as_text=True)


def test_every_post_needs_the_sessions_csrf_token(app, services):
    client = app.test_client()
    sign_in(client, "tp_agent")
    refused = client.post("/agent/tasks/7/claim", data={})
    assert refused.status_code == 400 and "reload the page" in refused.get_data(as_text=True)
    assert client.post("/agent/tasks/7/claim", data={"csrf_token": "forged"}).status_code == 400
    assert not any(path == "/tasks/7/claim" for _, _, path, _ in services.calls)
    token = _csrf(client.get("/agent/tasks"))
    assert client.post("/agent/tasks/7/claim", data={"csrf_token": token}).status_code == 302
    done = client.post("/agent/tasks/7/complete", data={"csrf_token": token, "outcome": "no_answer", "notes": "later"})
    assert done.status_code == 302
    assert ("POST", "channels", "/tasks/7/complete", {"outcome": "no_answer", "notes": "later"}) in services.calls


def test_roles_decide_what_a_user_may_open(app):
    agent = app.test_client()
    sign_in(agent, "tp_agent")
    assert agent.get("/campaigns").status_code == 403
    assert agent.get("/operator").status_code == 403
    marketer = app.test_client()
    sign_in(marketer, "tp_marketer")
    assert marketer.get("/campaigns").status_code == 200
    assert marketer.get("/operator/keys").status_code == 403
    assert "Call tasks" not in marketer.get("/campaigns").get_data(as_text=True)


def test_a_refusal_shows_the_services_problem_detail_never_a_trace(app, services):
    client = app.test_client()
    sign_in(client, "tp_agent")
    services.refuse[("POST", "/tasks/7/claim")] = ServiceError("channels", 409, "Conflict",
                                                               "task 7 is claimed; cannot claim it")
    token = _csrf(client.get("/agent/tasks"))
    answer = client.post("/agent/tasks/7/claim", data={"csrf_token": token})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 409 and "task 7 is claimed; cannot claim it" in html and "Traceback" not in html
    services.refuse[("GET", "/campaigns")] = ServiceUnavailable("campaigns", 503, "Service unavailable", "down")
    sign_in(client, "tp_marketer")
    assert client.get("/campaigns").status_code == 503
    assert client.get("/no/such/page").status_code == 404


def test_an_expired_session_or_a_revoked_key_gets_a_friendly_page(app, services, monkeypatch):
    client = app.test_client()
    sign_in(client, "tp_marketer")
    # far beyond the five-minute session (the cookie itself outlives it, so the console can explain)
    monkeypatch.setattr("services.console.auth.time", SimpleNamespace(time=lambda: time.time() + 3600))
    answer = client.get("/campaigns")
    assert answer.status_code == 401 and "Your session has ended" in answer.get_data(as_text=True)
    monkeypatch.undo()
    assert client.get("/campaigns").status_code == 401  # still explained, not a silent redirect
    sign_in(client, "tp_marketer")
    services.refuse[("GET", "/campaigns")] = ServiceError("campaigns", 401, "Unauthorized", "revoked")
    assert "no longer accept the key" in client.get("/campaigns").get_data(as_text=True)
    assert client.get("/agent/tasks").status_code == 401


def test_sign_out_forgets_the_key(app):
    client = app.test_client()
    sign_in(client, "tp_operator")
    token = _csrf(client.get("/campaigns"))
    assert client.post("/sign-out", data={"csrf_token": token}).status_code == 302
    assert client.get("/campaigns").headers["Location"].startswith("/sign-in")


def test_sign_in_returns_only_to_pages_of_the_console(app):
    client = app.test_client()
    for target, expected in (("/campaigns", "/campaigns"), ("//evil.example/x", "/"), ("/\\evil.example", "/"),
                             ("https://evil.example/", "/")):
        token = _csrf(client.get("/sign-in"))
        answer = client.post(f"/sign-in?next={target}", data={"api_key": "tp_marketer", "csrf_token": token})
        assert answer.headers["Location"] == expected, target


def test_the_campaign_page_shows_the_lift_against_the_control_group(app, services):
    section = {"treated": {"contacts": 30, "converted": 18, "rate": 0.6},
               "control": {"contacts": 30, "converted": 6, "rate": 0.2}, "mixed": 0, "difference": 0.4,
               "ci95": {"low": 0.174, "high": 0.626}, "lift": 2.0, "method": "wald", "min_group": 30, "reason": None}
    services.answers[("GET", "/campaigns/k1")] = {
        "campaign_id": "k1", "name": "Spring", "status": "active", "definition": {
            "category": "marketing", "entry": {"type": "event", "event_type": "visited"},
            "steps": [{"id": "ab", "type": "split", "variants": [{"name": "A", "weight": 1, "next": None}]}]}}
    services.answers[("GET", "/campaigns/k1/report")] = {
        "campaign_id": "k1", "enrollments": {"enrolled": 60}, "steps": {}, "broadcasts": [], "control_group": section,
        "variants": {"A": {"enrolled": 60, "converted": 24, "requested": 60, "sent": 30, "control_group": section}}}
    client = app.test_client()
    sign_in(client, "tp_marketer")
    html = client.get("/campaigns/k1").get_data(as_text=True)
    line = "treated 18 of 30 converted (60.0 %), control 6 of 30 (20.0 %): +40.0 points (95 % CI +17.4 to +62.6)"
    assert html.count(line) == 2  # the campaign and its variant A
    assert 'id="control-lift"' in html
