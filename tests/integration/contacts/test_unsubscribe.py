"""One-click unsubscribe (RFC 8058) against the real contacts app, PostgreSQL and broker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.unsubscribe import mint
from tests.support import UNSUBSCRIBE_SECRET, wait_for

pytestmark = pytest.mark.integration

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def _contact(contacts) -> str:
    answer = contacts.post("/contacts", role="ingest", json={"external_id": f"u-{uuid.uuid4().hex[:12]}",
                                                             "email": f"reader-{uuid.uuid4().hex[:8]}@example.com"})
    assert answer.status_code == 201, answer.json
    return answer.json["id"]


def _token(contact_id: str, *, scope: str = "channel", value: str = "email", age: timedelta = timedelta(0),
           secret: str = UNSUBSCRIBE_SECRET) -> str:
    return mint(secret, contact_id, scope, value, datetime.now(UTC) - age)


def _active(contacts, contact_id: str) -> list[dict]:
    return contacts.get(f"/contacts/{contact_id}/suppressions", role="marketer").json


def test_one_click_post_without_a_key_suppresses_the_channel_once_and_announces_it(contacts, probe):
    seen = probe("contact.suppression.changed")
    contact_id = _contact(contacts)
    token = _token(contact_id)
    answer = contacts.post(f"/u/{token}", role=None, data=ONE_CLICK)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.mimetype == "text/html" and "unsubscribed" in answer.get_data(as_text=True)
    assert answer.headers["Cache-Control"] == "no-store"
    [row] = _active(contacts, contact_id)
    assert (row["scope"], row["value"], row["reason"], row["source"]) == ("channel", "email", "unsubscribed",
                                                                           "one_click")
    events = wait_for(lambda: [m for m in seen.drain() if m["payload"]["contact_id"] == contact_id],
                      message="contact.suppression.changed on the broker")
    assert events[0]["payload"]["active"] is True and events[0]["payload"]["value"] == "email"

    # A provider retrying, or the reader clicking again: same answer, no second suppression or event.
    again = contacts.post(f"/u/{token}", role=None, data=ONE_CLICK)
    assert again.status_code == 200
    assert len(_active(contacts, contact_id)) == 1
    timeline = contacts.get(f"/contacts/{contact_id}/timeline", role="marketer").json["items"]
    assert len([t for t in timeline if t["kind"] == "suppression"]) == 1


def test_multipart_body_as_rfc_8058_prefers_is_accepted_and_a_topic_token_suppresses_the_topic(contacts):
    contact_id = _contact(contacts)
    answer = contacts.post(f"/u/{_token(contact_id, scope='topic', value='mortgage')}", role=None,
                           data=ONE_CLICK, content_type="multipart/form-data")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    [row] = _active(contacts, contact_id)
    assert (row["scope"], row["value"]) == ("topic", "mortgage")


def test_get_shows_a_button_and_changes_nothing(contacts):
    contact_id = _contact(contacts)
    token = _token(contact_id)
    page = contacts.get(f"/u/{token}", role=None)
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert f'action="/u/{token}"' in html and 'method="post"' in html
    assert 'name="List-Unsubscribe" value="One-Click"' in html
    assert _active(contacts, contact_id) == []


def test_tampered_forged_and_expired_tokens_get_a_clear_page_and_change_nothing(contacts):
    contact_id = _contact(contacts)
    token = _token(contact_id)
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (tampered, _token(contact_id, secret="not-the-secret"), "nonsense"):
        for method in ("GET", "POST"):
            answer = contacts.request(method, f"/u/{bad}", role=None, data=ONE_CLICK)
            assert answer.status_code == 404 and answer.mimetype == "text/html"
            assert "not valid" in answer.get_data(as_text=True)
    expired = _token(contact_id, age=timedelta(days=366))
    answer = contacts.post(f"/u/{expired}", role=None, data=ONE_CLICK)
    assert answer.status_code == 410 and "expired" in answer.get_data(as_text=True)
    assert contacts.get(f"/u/{expired}", role=None).status_code == 410
    # A genuine token of a contact that does not exist (another deployment's id) is not valid either.
    assert contacts.post(f"/u/{_token(str(uuid.uuid4()))}", role=None, data=ONE_CLICK).status_code == 404
    assert _active(contacts, contact_id) == []


def test_body_must_be_a_one_click_form(contacts):
    contact_id = _contact(contacts)
    token = _token(contact_id)
    as_json = contacts.post(f"/u/{token}", role=None, json={"List-Unsubscribe": "One-Click"})
    assert as_json.status_code == 415 and as_json.mimetype == "application/problem+json"
    wrong = contacts.post(f"/u/{token}", role=None, data={"List-Unsubscribe": "Yes"})
    assert wrong.status_code == 422 and "List-Unsubscribe" in wrong.json["errors"], wrong.json
    assert contacts.post(f"/u/{token}", role=None).status_code == 422
    assert _active(contacts, contact_id) == []


def test_already_suppressed_globally_and_erased_contacts_answer_200_without_change(contacts):
    contact_id = _contact(contacts)
    assert contacts.post(f"/contacts/{contact_id}/suppressions", role="marketer",
                         json={"scope": "global", "reason": "legal"}).status_code == 201
    assert contacts.post(f"/u/{_token(contact_id)}", role=None, data=ONE_CLICK).status_code == 200
    assert len(_active(contacts, contact_id)) == 1

    erased = _contact(contacts)
    assert contacts.post(f"/contacts/{erased}/erase", role="operator").status_code == 200
    before = contacts.get(f"/contacts/{erased}/suppressions?include_inactive=true", role="marketer").json
    answer = contacts.post(f"/u/{_token(erased)}", role=None, data=ONE_CLICK)
    assert answer.status_code == 200 and "hold no data" in answer.get_data(as_text=True)
    assert contacts.get(f"/contacts/{erased}/suppressions?include_inactive=true", role="marketer").json == before


def test_openapi_documents_the_page_as_public(contacts):
    document = contacts.get("/openapi.json").json
    for method in ("get", "post"):
        operation = document["paths"]["/u/{token}"][method]
        assert operation["security"] == []
        assert {"200", "404", "410"} <= set(operation["responses"])
        assert "401" not in operation["responses"]
    assert "415" in document["paths"]["/u/{token}"]["post"]["responses"]
