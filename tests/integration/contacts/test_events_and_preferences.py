"""Events (idempotent, on the broker once), consent, suppressions, consumed interactions and outcomes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.messaging import UnitOfWorkFactory
from tests.support import wait_for

pytestmark = pytest.mark.integration


def _contact(contacts, **fields) -> dict:
    body = {"external_id": f"ext-{uuid.uuid4().hex[:12]}", **fields}
    return contacts.post("/contacts", role="ingest", json=body).json


def _announce(contacts, message_type: str, payload: dict, message_id: str | None = None) -> None:
    """Publish as another service would: through an outbox (ours, relayed by the running worker)."""
    from services.contacts.repository import TABLES

    with UnitOfWorkFactory(contacts.engine, TABLES, "channels")() as uow:
        uow.publish(message_type, payload, key=payload["contact_id"], message_id=message_id)


def test_events_posted_twice_are_stored_once_and_published_once(contacts, probe):
    seen = probe("contact.event.#")
    contact = _contact(contacts)
    now = datetime.now(UTC).isoformat()
    batch = [
        {"event_id": f"ev-{uuid.uuid4()}", "contact_id": contact["id"], "type": "withdrawal", "occurred_at": now,
         "data": {"amount": 12000}},
        {"event_id": f"ev-{uuid.uuid4()}", "external_id": contact["external_id"], "type": "address_changed",
         "occurred_at": now},
        {"event_id": "bad", "contact_id": contact["id"], "type": "Bad-Type", "occurred_at": "2024-01-01T00:00:00"},
        {"event_id": f"ev-{uuid.uuid4()}", "contact_id": str(uuid.uuid4()), "type": "x", "occurred_at": now},
    ]
    first = contacts.post("/events", role="ingest", json=batch)
    assert first.status_code == 202, first.json
    assert [r["status"] for r in first.json["results"]] == ["accepted", "accepted", "rejected", "rejected"]
    assert set(first.json["results"][2]["reason"]) == {"type", "occurred_at"}
    assert first.json["results"][3]["reason"] == "unknown contact"
    second = contacts.post("/events", role="marketer", json=batch[:2] + [batch[0]])
    assert [r["status"] for r in second.json["results"]] == ["duplicate"] * 3
    single = contacts.post("/events", role="ingest", json=batch[0])
    assert single.json["duplicate"] == 1

    def both_arrived():
        return len([m for m in seen.drain() if m["key"] == contact["id"]]) >= 2

    wait_for(both_arrived, message="two contact.event messages")
    # The outbox is empty once relayed; anything more would be on the probe by now.
    from services.contacts.repository import TABLES
    from shared.messaging.outbox import wait_until_drained
    assert wait_until_drained(contacts.engine, TABLES.outbox)
    mine = [m for m in seen.drain() if m["key"] == contact["id"]]
    assert sorted(m["type"] for m in mine) == ["contact.event.address_changed", "contact.event.withdrawal"]
    assert {m["payload"]["event_id"] for m in mine} == {batch[0]["event_id"], batch[1]["event_id"]}
    timeline = contacts.get(f"/contacts/{contact['id']}/timeline", role="agent").json["items"]
    assert sorted(e["type"] for e in timeline if e["kind"] == "event") == ["address_changed", "withdrawal"]


def test_consent_and_suppressions_are_kept_and_published(contacts, probe):
    seen = probe("contact.consent.changed", "contact.suppression.changed")
    contact = _contact(contacts, email="s@example.com")
    cid = contact["id"]
    assert contacts.put(f"/contacts/{cid}/consent/email", role="marketer",
                        json={"status": "granted", "source": "web form"}).status_code == 200
    assert contacts.put(f"/contacts/{cid}/consent/email", role="agent", json={"status": "denied"}).status_code == 200
    consent = contacts.get(f"/contacts/{cid}/consent", role="agent").json
    assert [c["status"] for c in consent["current"]] == ["denied"]
    assert [c["status"] for c in consent["history"]] == ["granted", "denied"]

    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    created = contacts.post(f"/contacts/{cid}/suppressions", role="marketer",
                            json={"scope": "topic", "value": "mortgage", "reason": "product_held", "expires_at": expires})
    assert created.status_code == 201, created.json
    sid = created.json["id"]
    assert [s["id"] for s in contacts.get(f"/contacts/{cid}/suppressions", role="agent").json] == [sid]
    lifted = contacts.delete(f"/contacts/{cid}/suppressions/{sid}", role="marketer")
    assert lifted.status_code == 200 and lifted.json["lifted_at"] is not None
    assert contacts.get(f"/contacts/{cid}/suppressions", role="agent").json == []
    assert len(contacts.get(f"/contacts/{cid}/suppressions", role="agent",
                            query_string={"include_inactive": "true"}).json) == 1

    def published():
        mine = [m for m in seen.drain() if m["key"] == cid]
        return mine if len(mine) >= 4 else None

    mine = wait_for(published, message="consent and suppression messages")
    suppression = [m["payload"] for m in mine if m["type"] == "contact.suppression.changed"]
    assert [(p["suppression_id"], p["active"]) for p in suppression] == [(sid, True), (sid, False)]
    assert [m["payload"]["status"] for m in mine if m["type"] == "contact.consent.changed"] == ["granted", "denied"]
    kinds = [e["kind"] for e in contacts.get(f"/contacts/{cid}/timeline", role="agent").json["items"]]
    assert kinds == ["suppression", "suppression", "consent", "consent"]


def test_interactions_become_events_or_suppressions_once(contacts, probe):
    seen = probe("contact.event.offer_accepted", "contact.suppression.changed")
    cid = _contact(contacts)["id"]
    at = datetime.now(UTC).isoformat()
    stop = {"interaction_id": f"int-{uuid.uuid4()}", "contact_id": cid, "type": "suppression_requested",
            "occurred_at": at, "data": {"scope": "channel", "value": "sms", "reason": "stop"}}
    offer = {"interaction_id": f"int-{uuid.uuid4()}", "contact_id": cid, "type": "offer_accepted",
             "occurred_at": at, "data": {"offer": "mortgage"}}
    for payload in (stop, stop, offer):  # two different messages meaning the same STOP
        _announce(contacts, "interaction.recorded", payload)
    _announce(contacts, "interaction.recorded", offer, message_id=str(uuid.uuid4()))

    def settled():
        active = contacts.get(f"/contacts/{cid}/suppressions", role="agent").json
        events = [e for e in contacts.get(f"/contacts/{cid}/timeline", role="agent").json["items"]
                  if e["kind"] == "event"]
        return (active, events) if active and events else None

    active, events = wait_for(settled, message="interaction handled")
    wait_for(lambda: len([m for m in seen.drain() if m["key"] == cid]) >= 2, message="published")
    assert [(s["scope"], s["value"], s["reason"]) for s in active] == [("channel", "sms", "stop")]
    assert [(e["type"], e["ref"]) for e in events] == [("offer_accepted", offer["interaction_id"])]


def test_timeline_shows_a_consumed_message_outcome(contacts):
    cid = _contact(contacts)["id"]
    decided = datetime.now(UTC)
    sent = {"request_id": f"req-{uuid.uuid4()}", "contact_id": cid, "channel": "email", "outcome": "sent",
            "campaign_id": "camp-1", "step_id": "s1", "category": "marketing", "decided_at": decided.isoformat(),
            "request": {"recipient": {"email": "private@example.com"}}}
    requested = {"request_id": f"req-{uuid.uuid4()}", "contact_id": cid, "channel": "email",
                 "category": "marketing", "content": {"subject": "hi"}}
    _announce(contacts, "message.requested", requested)
    _announce(contacts, "message.sent", sent)

    def entries():
        items = contacts.get(f"/contacts/{cid}/timeline", role="agent").json["items"]
        return [e for e in items if e["kind"] == "message"] or None

    items = wait_for(entries, message="message.sent on the timeline")
    assert [(e["type"], e["ref"]) for e in items] == [("sent", sent["request_id"])]
    assert items[0]["data"]["campaign_id"] == "camp-1" and "request" not in items[0]["data"]


def test_timeline_pages_newest_first(contacts):
    cid = _contact(contacts)["id"]
    base = datetime(2025, 1, 1, tzinfo=UTC)
    events = [{"event_id": f"tl-{uuid.uuid4()}", "contact_id": cid, "type": "visit",
               "occurred_at": (base + timedelta(hours=i)).isoformat(), "data": {"i": i}} for i in range(5)]
    assert contacts.post("/events", role="ingest", json=events).json["accepted"] == 5
    seen, cursor = [], None
    while True:
        page = contacts.get(f"/contacts/{cid}/timeline", role="agent",
                            query_string={"limit": 2, **({"cursor": cursor} if cursor else {})}).json
        seen += [e["data"]["i"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [4, 3, 2, 1, 0]
