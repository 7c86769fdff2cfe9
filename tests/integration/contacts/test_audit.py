"""The contacts audit trail: contacts, consent, suppressions, segments, topics and imports are on record
with who did them; the preference center's changes have no key; erasure redacts the personal data of the
contact's records and keeps the records."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shared.audit.details import ERASED
from shared.unsubscribe import mint
from tests.support import UNSUBSCRIBE_SECRET

pytestmark = pytest.mark.integration


def _trail(contacts, **query) -> list[dict]:
    answer = contacts.get("/audit", query_string=query)
    assert answer.status_code == 200, answer.json
    return answer.json["items"][::-1]  # oldest first


def test_contact_consent_and_suppression_changes_are_recorded_with_the_key(contacts):
    created = contacts.post("/contacts", role="ingest", json={"external_id": f"a-{uuid.uuid4().hex[:10]}",
                                                              "email": "ann@example.com", "first_name": "Ann"})
    cid = created.json["id"]
    assert contacts.patch(f"/contacts/{cid}", role="marketer", json={"first_name": "Anna"}).status_code == 200
    assert contacts.put(f"/contacts/{cid}/consent/email", role="agent", json={"status": "granted"}).status_code == 200
    assert contacts.put(f"/contacts/{cid}/consent/email", role="agent", json={"status": "denied"}).status_code == 200
    stop = contacts.post(f"/contacts/{cid}/suppressions", role="marketer",
                         json={"scope": "topic", "value": "mortgage", "reason": "unsubscribed"}).json
    assert contacts.delete(f"/contacts/{cid}/suppressions/{stop['id']}", role="marketer").status_code == 200

    made = _trail(contacts, entity_type="contact", entity_id=cid)
    assert [(e["action"], e["actor"]["role"]) for e in made] == [("contact.create", "ingest"),
                                                                 ("contact.update", "marketer")]
    assert made[1]["details"]["before"]["first_name"] == "Ann" and made[1]["details"]["after"]["first_name"] == "Anna"
    assert "email" not in made[1]["details"]["before"]  # unchanged fields are not repeated
    consent = _trail(contacts, entity_type="consent", entity_id=f"{cid}/email")
    assert [(e["details"].get("before"), e["details"]["after"]["status"]) for e in consent] == [
        (None, "granted"), ({"status": "granted"}, "denied")]  # only what changed
    assert {e["actor"]["name"] for e in consent} == {"test-agent"}
    stops = _trail(contacts, entity_type="suppression", entity_id=stop["id"])
    assert [e["action"] for e in stops] == ["suppression.add", "suppression.lift"]
    assert stops[1]["details"]["before"]["lifted_at"] is None and stops[1]["details"]["after"]["lifted_at"]


def test_segments_topics_and_imports_are_recorded(contacts):
    segment = contacts.post("/segments", role="marketer", json={"name": f"s-{uuid.uuid4().hex[:8]}",
                                                                "definition": "tier == 'gold'"}).json
    assert contacts.patch(f"/segments/{segment['id']}", role="marketer", json={"description": "d"}).status_code == 200
    assert contacts.delete(f"/segments/{segment['id']}", role="marketer").status_code == 204
    assert [e["action"] for e in _trail(contacts, entity_id=segment["id"])] == [
        "segment.create", "segment.update", "segment.delete"]
    key = f"t{uuid.uuid4().hex[:8]}"
    assert contacts.put(f"/topics/{key}", role="marketer", json={"labels": {"en": "T"}}).status_code == 200
    assert contacts.put(f"/topics/{key}", role="marketer", json={"labels": {"en": "T2"}}).status_code == 200
    assert contacts.delete(f"/topics/{key}", role="marketer").status_code == 204
    topic = _trail(contacts, entity_type="topic", entity_id=key)
    assert [e["action"] for e in topic] == ["topic.put", "topic.put", "topic.delete"]
    assert topic[1]["details"]["before"]["labels"] == {"en": "T"} and topic[1]["details"]["after"]["labels"] == {
        "en": "T2"}
    job = contacts.post("/imports", role="ingest", data=b"external_id,email\nimp-1,imp@example.com\n",
                        headers={"Content-Type": "text/csv"}).json
    [entry] = _trail(contacts, action="import.create", entity_id=job["id"])
    assert entry["actor"]["role"] == "ingest"


def test_preference_center_changes_have_no_key_and_say_their_source(contacts):
    cid = contacts.post("/contacts", role="ingest", json={"email": f"{uuid.uuid4().hex[:8]}@example.com"}).json["id"]
    token = mint(UNSUBSCRIBE_SECRET, cid, "channel", "email", datetime.now(UTC))
    answer = contacts.post(f"/p/{token}", role=None, data={"action": "save", "consent_email": "granted"})
    assert answer.status_code == 200
    [entry] = _trail(contacts, entity_type="consent", entity_id=f"{cid}/email")
    assert entry["actor"] is None and entry["details"]["after"] == {"status": "granted", "source": "preference_center"}


def test_erasure_redacts_the_contacts_records_and_keeps_them(contacts):
    cid = contacts.post("/contacts", role="ingest", json={"external_id": f"e-{uuid.uuid4().hex[:10]}",
                                                          "email": "eve@example.com", "first_name": "Eve",
                                                          "attributes": {"city": "Bonn"}}).json["id"]
    contacts.patch(f"/contacts/{cid}", role="marketer", json={"phone": "+4930123456", "first_name": "Evelyn"})
    contacts.put(f"/contacts/{cid}/consent/sms", role="agent", json={"status": "granted"})
    other = contacts.post("/contacts", role="ingest", json={"email": "keep@example.com"}).json["id"]
    assert contacts.post(f"/contacts/{cid}/erase", role="operator").status_code == 200

    records = [e for e in _trail(contacts, limit=1000) if cid in (e["entity_id"], e["entity_id"].split("/")[0])]
    assert [e["action"] for e in records] == ["contact.create", "contact.update", "consent.set", "contact.erase"]
    created, updated, consent, erased = records
    assert created["details"]["after"]["email"] == ERASED and created["details"]["after"]["attributes"] == ERASED
    assert created["details"]["after"]["id"] == cid and created["redacted_at"]
    assert updated["details"]["before"] == {"first_name": ERASED, "phone": None, "updated_at": updated[
        "details"]["before"]["updated_at"]}
    assert updated["details"]["after"]["phone"] == ERASED and updated["actor"]["role"] == "marketer"
    assert consent["details"]["after"]["status"] == "granted"  # what happened stays
    assert erased["actor"]["role"] == "operator" and erased["details"] is None
    dump = str(records)
    assert "eve@example.com" not in dump and "Evelyn" not in dump and "+4930123456" not in dump and "Bonn" not in dump
    # another contact's records are untouched
    [kept] = _trail(contacts, entity_type="contact", entity_id=other)
    assert kept["details"]["after"]["email"] == "keep@example.com" and kept["redacted_at"] is None


def test_a_plain_update_or_delete_of_the_contacts_trail_is_refused(contacts):
    contacts.post("/contacts", role="ingest", json={"email": "x@example.com"})
    for statement in ("UPDATE audit_log SET details = NULL", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), contacts.engine.begin() as conn:
            conn.execute(text(statement))


def test_a_merge_is_recorded_once_with_the_key(contacts):
    tag = uuid.uuid4().hex[:8]
    survivor = contacts.post("/contacts", role="ingest", json={"email": f"s-{tag}@example.com"}).json["id"]
    duplicate = contacts.post("/contacts", role="ingest", json={"email": f"d-{tag}@example.com",
                                                                "first_name": "Dee"}).json["id"]
    for _ in range(2):  # the repeat changes nothing, so records nothing
        answer = contacts.post(f"/contacts/{survivor}/merge", role="marketer", json={"duplicate_id": duplicate})
        assert answer.status_code == 200, answer.json
    [merged] = _trail(contacts, action="contact.merge", entity_id=survivor)
    assert merged["actor"]["role"] == "marketer" and merged["details"]["after"]["duplicate_id"] == duplicate


def test_erasing_a_survivor_redacts_the_records_of_the_profiles_merged_into_it(contacts):
    tag = uuid.uuid4().hex[:8]
    survivor = contacts.post("/contacts", role="ingest", json={"email": f"s2-{tag}@example.com"}).json["id"]
    duplicate = contacts.post("/contacts", role="ingest", json={"email": f"d2-{tag}@example.com",
                                                                "first_name": "Dora"}).json["id"]
    assert contacts.post(f"/contacts/{survivor}/merge", role="marketer", json={"duplicate_id": duplicate}).status_code == 200
    assert contacts.post(f"/contacts/{survivor}/erase", role="operator").status_code == 200
    [created] = _trail(contacts, action="contact.create", entity_id=duplicate)
    assert created["details"]["after"]["email"] == ERASED and created["details"]["after"]["first_name"] == ERASED
    assert created["redacted_at"] is not None
