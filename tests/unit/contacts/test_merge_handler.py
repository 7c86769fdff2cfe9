"""merge_contacts against the in-memory contacts repositories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.contacts.handlers.events import on_message_outcomes, record_events
from services.contacts.handlers.merge import merge_contacts
from shared.errors import Conflict, Invalid, NotFound
from shared.messaging import Message
from tests.unit.contacts.fakes import FakeUnitOfWork

S, D = "01900000-0000-7000-8000-000000000001", "01900000-0000-7000-8000-000000000002"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.contacts.add(S, external_id="crm-1", email="s@example.com", attributes={"tier": "gold"})
    uow.contacts.add(D, external_id="web-9", email="d@example.com", phone="+4930123456", first_name="Dee",
                     attributes={"tier": "silver", "city": "Berlin"})
    uow.contacts.save_consent(S, "email", "granted", "form", T0)
    uow.contacts.save_consent(D, "email", "denied", "agent", T0)
    uow.contacts.add_suppression({"id": "sup-1", "contact_id": D, "scope": "channel", "value": "sms",
                                  "reason": "stop", "created_at": T0})
    uow.contacts.add_timeline(D, "event", "login", T0)
    return uow


def test_merge_folds_the_duplicate_and_announces_it():
    uow = _uow()
    answer = merge_contacts(uow, S, D)
    assert answer["merged"] is True and answer["duplicate_id"] == D
    contact = answer["contact"]
    assert contact["attributes"] == {"tier": "gold", "city": "Berlin"}  # survivor wins on conflict
    assert (contact["email"], contact["phone"], contact["first_name"]) == ("s@example.com", "+4930123456", "Dee")
    assert uow.contacts.contacts[D].merged_into == S
    assert [c.status for c in uow.contacts.consents(S)] == ["denied"]  # the most restrictive consent
    assert uow.contacts.consents(D) == []
    assert uow.contacts.suppression_rows["sup-1"].contact_id == S
    assert {e["contact_id"] for e in uow.contacts.timeline} == {S}
    types = [m["type"] for m in uow.published]
    assert types == ["contact.consent.changed", "contact.suppression.changed", "contact.upserted", "contact.merged"]
    assert uow.published[-1]["payload"]["contact_id"] == S and uow.published[-1]["payload"]["duplicate_id"] == D
    assert all(m["key"] == S for m in uow.published)

    again = merge_contacts(uow, S, D)  # idempotent: nothing more is written or announced
    assert again["merged"] is False and len(uow.published) == 4


def test_refused_merges_answer_clear_4xx():
    uow = _uow()
    with pytest.raises(Invalid) as into_itself:
        merge_contacts(uow, S, S)
    assert "duplicate_id" in into_itself.value.errors
    with pytest.raises(NotFound):
        merge_contacts(uow, "01900000-0000-7000-8000-0000000000ff", D)
    with pytest.raises(Invalid):
        merge_contacts(uow, S, "01900000-0000-7000-8000-0000000000ff")
    uow.contacts.contacts[D].erased_at = T0
    with pytest.raises(Conflict):
        merge_contacts(uow, S, D)
    uow.contacts.contacts[D].erased_at = None
    merge_contacts(uow, S, D)
    with pytest.raises(Conflict):  # into a tombstone
        merge_contacts(uow, D, S)


def test_later_events_and_outcomes_for_the_duplicate_land_on_the_survivor():
    uow = _uow()
    merge_contacts(uow, S, D)
    results = record_events(uow, [
        {"event_id": "e1", "contact_id": D, "type": "login", "occurred_at": T0 + timedelta(days=1), "data": {}},
        {"event_id": "e2", "external_id": "web-9", "type": "login", "occurred_at": T0, "data": {}}])
    assert [(r["status"], r.get("contact_id")) for r in results] == [("accepted", S), ("accepted", S)]
    outcome = Message(type="message.sent", payload={
        "contact_id": D, "outcome": "sent", "decided_at": T0, "request_id": "r1", "channel": "email"})
    on_message_outcomes(uow, [outcome])
    assert uow.contacts.timeline[-1]["contact_id"] == S and uow.contacts.timeline[-1]["ref"] == "r1"
