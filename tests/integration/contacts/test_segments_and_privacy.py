"""Segments over attributes and events, and GDPR erasure and export."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.contacts.repository import events, timeline
from tests.support import wait_for

pytestmark = pytest.mark.integration


def _contact(contacts, **fields) -> dict:
    response = contacts.post("/contacts", role="ingest", json=fields)
    assert response.status_code == 201, response.json
    return response.json


def _event(contacts, cid: str, event_type: str, days_ago: float, **data) -> None:
    at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    body = {"event_id": f"e-{uuid.uuid4()}", "contact_id": cid, "type": event_type, "occurred_at": at, "data": data}
    assert contacts.post("/events", role="ingest", json=body).json["accepted"] == 1


def test_segment_count_and_members_match_a_filter_over_attributes_and_events(contacts):
    tag = uuid.uuid4().hex[:8]
    people = {name: _contact(contacts, external_id=f"{name}-{tag}", email=f"{name}-{tag}@example.com",
                             attributes={"tier": tier, "cohort": tag})["id"]
              for name, tier in [("p1", "platinum"), ("p2", "platinum"), ("p3", "platinum"), ("g1", "gold"),
                                 ("p4", "platinum")]}
    _event(contacts, people["p1"], "withdrawal", 1, amount=15000)
    _event(contacts, people["p2"], "withdrawal", 1, amount=500)       # too small
    _event(contacts, people["p3"], "withdrawal", 40, amount=20000)    # too old
    _event(contacts, people["g1"], "withdrawal", 1, amount=50000)     # not platinum
    _event(contacts, people["p4"], "withdrawal", 2, amount=10001)
    contacts.post(f"/contacts/{people['p4']}/suppressions", role="marketer",
                  json={"scope": "channel", "value": "email", "reason": "unsubscribed"})
    definition = (f"cohort == '{tag}' and tier == 'platinum' "
                  f"and did('withdrawal', within='30d', where=amount > 10000)")
    segment = contacts.post("/segments", role="marketer", json={"name": f"big-{tag}", "definition": definition})
    assert segment.status_code == 201, segment.json
    sid = segment.json["id"]
    assert contacts.get(f"/segments/{sid}/count", role="marketer").json["count"] == 2
    members, after = [], None
    while True:
        page = contacts.get(f"/segments/{sid}/members", role="marketer",
                            query_string={"limit": 1, **({"after": after} if after else {})}).json
        members += page["items"]
        after = page["next_after"]
        if after is None:
            break
    assert [m["contact_id"] for m in members] == sorted([people["p1"], people["p4"]])
    assert members[0]["email"] and members[0]["attributes"]["tier"] == "platinum"

    narrowed = contacts.patch(f"/segments/{sid}", role="marketer",
                              json={"definition": definition + " and not suppressed('email')"})
    assert narrowed.status_code == 200
    assert contacts.get(f"/segments/{sid}/count", role="agent").json["count"] == 1
    bad = contacts.patch(f"/segments/{sid}", role="marketer", json={"definition": "tier = 'gold'"})
    assert bad.status_code == 422 and "position 5" in bad.json["errors"]["definition"][0]
    taken = contacts.post("/segments", role="marketer", json={"name": f"big-{tag}", "definition": "tier == 'x'"})
    assert taken.status_code == 409


def test_erase_removes_pii_everywhere_and_publishes_contact_erased(contacts, probe):
    seen = probe("contact.erased")
    contact = _contact(contacts, external_id=f"gdpr-{uuid.uuid4().hex[:8]}", email="erase.me@example.com",
                       phone="+14155552671", first_name="Eve", last_name="Smith", attributes={"tier": "gold"})
    cid = contact["id"]
    _event(contacts, cid, "address_changed", 0, street="1 Secret Road")
    contacts.put(f"/contacts/{cid}/consent/email", role="marketer", json={"status": "granted", "source": "form"})
    assert contacts.post(f"/contacts/{cid}/erase", role="marketer").status_code == 403
    erased = contacts.post(f"/contacts/{cid}/erase", role="operator")
    assert erased.status_code == 200, erased.json
    body = erased.json
    assert body["erased_at"] and body["attributes"] == {}
    assert all(body[f] is None for f in ("external_id", "email", "phone", "first_name", "last_name"))
    with contacts.engine.connect() as conn:
        assert conn.execute(select(events.c.data).where(events.c.contact_id == cid)).scalars().all() == [{}]
        data = conn.execute(select(timeline.c.data).where(timeline.c.contact_id == cid)).scalars().all()
    assert "Secret" not in repr(data) and "form" not in repr(data)
    active = contacts.get(f"/contacts/{cid}/suppressions", role="agent").json
    assert [(s["scope"], s["reason"]) for s in active] == [("global", "erased")]
    exported = contacts.get(f"/contacts/{cid}/export", role="operator").json
    assert "erase.me" not in repr(exported) and exported["contact"]["erased_at"]
    assert contacts.patch(f"/contacts/{cid}", role="marketer", json={"first_name": "Back"}).status_code == 409
    refused = contacts.post("/events", role="ingest", json={"event_id": f"e-{uuid.uuid4()}", "contact_id": cid,
                                                            "type": "visit", "occurred_at": datetime.now(UTC).isoformat()})
    assert refused.json["results"][0]["status"] == "rejected"
    message = wait_for(lambda: [m for m in seen.drain() if m["key"] == cid], message="contact.erased")
    assert message[0]["payload"]["contact_id"] == cid
    assert contacts.post(f"/contacts/{cid}/erase", role="operator").status_code == 200  # idempotent


def test_export_holds_everything(contacts):
    cid = _contact(contacts, email="export@example.com", attributes={"tier": "gold"})["id"]
    _event(contacts, cid, "visit", 0, page="/home")
    contacts.put(f"/contacts/{cid}/consent/sms", role="marketer", json={"status": "granted"})
    exported = contacts.get(f"/contacts/{cid}/export", role="marketer").json
    assert exported["contact"]["email"] == "export@example.com"
    assert [e["data"] for e in exported["events"]] == [{"page": "/home"}]
    assert exported["consents"][0]["channel"] == "sms" and len(exported["timeline"]) == 2
    assert exported["exported_at"].endswith("+00:00")
