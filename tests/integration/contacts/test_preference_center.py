"""The preference center and its topic catalogue against the real contacts app, PostgreSQL and broker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.unsubscribe import mint
from tests.support import UNSUBSCRIBE_SECRET, wait_for

pytestmark = pytest.mark.integration


def _contact(contacts, **fields) -> str:
    answer = contacts.post("/contacts", role="ingest", json={"external_id": f"p-{uuid.uuid4().hex[:12]}",
                                                             "email": f"reader-{uuid.uuid4().hex[:8]}@example.com", **fields})
    assert answer.status_code == 201, answer.json
    return answer.json["id"]


def _token(contact_id: str, age: timedelta = timedelta(0)) -> str:
    return mint(UNSUBSCRIBE_SECRET, contact_id, "channel", "email", datetime.now(UTC) - age)


def _active(contacts, contact_id: str) -> list[tuple]:
    rows = contacts.get(f"/contacts/{contact_id}/suppressions", role="marketer").json
    return sorted((r["scope"], r["value"], r["source"]) for r in rows)


@pytest.fixture(scope="module")
def catalogue(contacts):
    for key, labels in (("mortgage", {"en": "Mortgages", "de": "Hypotheken"}),
                        ("investment", {"en": "Investing", "de": "Geldanlage"})):
        answer = contacts.request("PUT", f"/topics/{key}", role="marketer", json={"labels": labels})
        assert answer.status_code == 200, answer.json
    return contacts


def test_the_page_shows_the_contacts_choices_in_german_and_get_changes_nothing(catalogue):
    contacts = catalogue
    contact_id = _contact(contacts, locale="de-AT")
    page = contacts.get(f"/p/{_token(contact_id)}", role=None)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert '<html lang="de">' in html and "Hypotheken" in html and "Geldanlage" in html
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    english = contacts.get(f"/p/{_token(_contact(contacts))}", role=None, headers={"Accept-Language": "fr, en"})
    assert '<html lang="en">' in english.get_data(as_text=True)
    assert _active(contacts, contact_id) == []


def test_saving_records_consent_and_topic_stops_as_preference_center_and_announces_them(catalogue, probe):
    contacts = catalogue
    seen = probe("contact.suppression.changed", "contact.consent.changed")
    contact_id = _contact(contacts)
    token = _token(contact_id)
    form = {"action": "save", "consent_email": "granted", "consent_sms": "denied",
            "shown": ["investment", "mortgage"], "topic": ["investment"]}
    answer = contacts.post(f"/p/{token}", role=None, data=form)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert 'role="status"' in answer.get_data(as_text=True)
    assert _active(contacts, contact_id) == [("topic", "mortgage", "preference_center")]
    consent = contacts.get(f"/contacts/{contact_id}/consent", role="marketer").json["current"]
    assert {(c["channel"], c["status"], c["source"]) for c in consent} == {
        ("email", "granted", "preference_center"), ("sms", "denied", "preference_center")}
    mine = lambda: [m["type"] for m in seen.drain() if m["payload"]["contact_id"] == contact_id]  # noqa: E731
    wait_for(lambda: len(mine()) >= 3,
             message="the changes on the broker")

    # re-subscribing lifts it; "everything" adds one global stop
    contacts.post(f"/p/{token}", role=None, data={**form, "topic": ["investment", "mortgage"]})
    assert _active(contacts, contact_id) == []
    contacts.post(f"/p/{token}", role=None, data={"action": "everything"})
    assert _active(contacts, contact_id) == [("global", None, "preference_center")]


def test_bad_tokens_bad_fields_and_cross_site_posts_change_nothing(catalogue):
    contacts = catalogue
    contact_id = _contact(contacts)
    token = _token(contact_id)
    for method in ("GET", "POST"):
        assert contacts.request(method, f"/p/{token[:-3]}AAA", role=None, data={}).status_code == 404
        assert contacts.request(method, f"/p/{_token(contact_id, timedelta(days=400))}", role=None,
                                data={}).status_code == 410
        assert contacts.request(method, f"/p/{_token(str(uuid.uuid4()))}", role=None, data={}).status_code == 404
    for form, field in (({"consent_sms": "maybe"}, "consent_sms"), ({"action": "nuke"}, "action"),
                        ({"shown": ["mortgage"], "topic": ["crypto"]}, "topic")):
        answer = contacts.post(f"/p/{token}", role=None, data=form)
        assert answer.status_code == 422 and field in answer.json["errors"], answer.json
    cross = contacts.post(f"/p/{token}", role=None, data={"action": "everything"},
                          headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    assert _active(contacts, contact_id) == []


def test_the_catalogue_needs_a_key_and_the_marketer_role_and_names_bad_fields(catalogue):
    contacts = catalogue
    assert contacts.get("/topics", role=None).status_code == 401
    assert contacts.request("PUT", "/topics/travel", role="agent", json={"labels": {"en": "Travel"}}).status_code == 403
    assert [t["key"] for t in contacts.get("/topics", role="agent").json] == ["investment", "mortgage"]
    bad = contacts.request("PUT", "/topics/travel", role="marketer", json={"labels": {"de": "Reisen"}})
    assert bad.status_code == 422 and "labels" in bad.json["errors"]
    bad = contacts.request("PUT", "/topics/Travel%20Deals", role="marketer", json={"labels": {"en": "x"}})
    assert bad.status_code == 422 and "key" in bad.json["errors"]
    assert contacts.request("PUT", "/topics/travel", role="marketer", json={"labels": {"en": "Travel"}}).status_code == 200
    assert contacts.request("DELETE", "/topics/travel", role="marketer").status_code == 204
    assert contacts.request("DELETE", "/topics/travel", role="marketer").status_code == 404


def test_openapi_documents_the_page_as_public(contacts):
    document = contacts.get("/openapi.json").json
    for method in ("get", "post"):
        operation = document["paths"]["/p/{token}"][method]
        assert operation["security"] == []
        assert {"200", "404", "410"} <= set(operation["responses"])
    assert {"403", "422"} <= set(document["paths"]["/p/{token}"]["post"]["responses"])
