"""The events use cases (`handlers.events`) against in-memory fakes of their repositories."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.contacts.handlers.events import (
    UnknownContact,
    on_interaction,
    on_message_outcome,
    on_message_outcomes,
    record_events,
)
from shared.messaging import Message
from tests.unit.contacts.fakes import FakeUnitOfWork

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LIVE, ERASED, OTHER = (str(uuid.uuid4()) for _ in range(3))


@pytest.fixture
def uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.contacts.add(LIVE, external_id="ext-live")
    uow.contacts.add(OTHER, external_id="ext-other")
    uow.contacts.add(ERASED, erased_at=AT)
    return uow


def _event(event_id: str, **who: str) -> dict:
    return {"event_id": event_id, "type": "withdrawal", "occurred_at": AT, "data": {"amount": 5}, **who}


def test_each_item_is_accepted_duplicate_or_rejected_and_only_new_events_are_announced(uow) -> None:
    uow.events.events["seen-before"] = {**_event("seen-before", contact_id=LIVE), "source": "api"}
    results = record_events(uow, [
        _event("e1", contact_id=LIVE),
        _event("e2", external_id="ext-live"),
        _event("e1", contact_id=LIVE),                          # again in the same batch
        _event("seen-before", contact_id=LIVE),                 # stored by an earlier request
        _event("e3", contact_id=str(uuid.uuid4())),
        _event("e4", contact_id=ERASED),
        _event("e5", contact_id=LIVE, external_id="ext-other"),
    ])
    assert [(r["status"], r.get("reason")) for r in results] == [
        ("accepted", None), ("accepted", None), ("duplicate", None), ("duplicate", None),
        ("rejected", "unknown contact"), ("rejected", "the contact was erased"),
        ("rejected", "contact_id and external_id name different contacts")]
    assert results[1]["contact_id"] == LIVE  # resolved from the external_id
    assert [(m["type"], m["key"], m["payload"]["event_id"]) for m in uow.published] == [
        ("contact.event.withdrawal", LIVE, "e1"), ("contact.event.withdrawal", LIVE, "e2")]
    assert uow.published[0]["payload"]["occurred_at"] == AT.isoformat()
    assert [(t["kind"], t["ref"]) for t in uow.contacts.timeline] == [("event", "e1"), ("event", "e2")]


def _message(message_type: str, payload: dict) -> Message:
    return Message(type=message_type, payload=payload, key=payload["contact_id"], source="channels")


def _suppression_request(contact_id: str, interaction_id: str = "i-1") -> Message:
    return _message("interaction.recorded", {
        "interaction_id": interaction_id, "contact_id": contact_id, "type": "suppression_requested",
        "occurred_at": AT.isoformat(), "data": {"scope": "channel", "value": "sms", "reason": "complained"}})


def test_a_suppression_request_is_applied_once_even_for_an_erased_contact(uow) -> None:
    on_interaction(uow, _suppression_request(ERASED))
    on_interaction(uow, _suppression_request(ERASED))  # redelivered: same interaction id
    [row] = uow.contacts.suppression_rows.values()
    assert (row.contact_id, row.scope, row.value, row.reason, row.source_ref) == (
        ERASED, "channel", "sms", "complained", "i-1")
    assert row.source == "interaction:channels"
    assert [m["type"] for m in uow.published] == ["contact.suppression.changed"]
    with pytest.raises(UnknownContact):
        on_interaction(uow, _suppression_request(str(uuid.uuid4()), "i-2"))


def test_an_outcome_goes_on_the_timeline_of_a_live_contact_without_the_request(uow) -> None:
    outcome = {"request_id": "r-1", "outcome": "sent", "channel": "sms", "decided_at": AT.isoformat(),
               "request": {"to": "+4479460000"}}
    on_message_outcome(uow, _message("message.sent", {**outcome, "contact_id": LIVE}))
    on_message_outcome(uow, _message("message.sent", {**outcome, "contact_id": ERASED}))
    on_message_outcome(uow, _message("message.requested", {**outcome, "contact_id": LIVE}))
    [entry] = uow.contacts.timeline
    assert (entry["contact_id"], entry["kind"], entry["type"], entry["ref"]) == (LIVE, "message", "sent", "r-1")
    assert entry["data"] == {"request_id": "r-1", "channel": "sms", "outcome": "sent"}
    assert uow.published == []


def test_a_batch_of_outcomes_goes_on_the_timelines_in_order_with_one_read_and_one_write(uow) -> None:
    reads: list[set[str]] = []
    writes: list[int] = []
    live_ids, add_many = uow.contacts.live_ids, uow.contacts.add_timeline_many
    uow.contacts.live_ids = lambda ids: reads.append(set(ids)) or live_ids(ids)
    uow.contacts.add_timeline_many = lambda rows: writes.append(len(rows)) or add_many(rows)

    def outcome(contact_id: str, outcome: str, request_id: str) -> Message:
        return _message(f"message.{outcome}", {"request_id": request_id, "outcome": outcome, "channel": "email",
                                               "decided_at": AT.isoformat(), "contact_id": contact_id})

    on_message_outcomes(uow, [outcome(LIVE, "sent", "r-1"), outcome(ERASED, "sent", "r-2"),
                              outcome("not-a-uuid", "sent", "r-3"), outcome(OTHER, "capped", "r-4"),
                              _message("message.requested", {"request_id": "r-5", "contact_id": LIVE}),
                              outcome(LIVE, "delivered", "r-1")])
    assert reads == [{LIVE, ERASED, OTHER}] and writes == [3]
    assert [(e["contact_id"], e["type"], e["ref"]) for e in uow.contacts.timeline] == [
        (LIVE, "sent", "r-1"), (OTHER, "capped", "r-4"), (LIVE, "delivered", "r-1")]


def test_a_batch_with_nothing_to_keep_reads_and_writes_nothing(uow) -> None:
    uow.contacts.live_ids = uow.contacts.add_timeline_many = None  # would raise if called
    on_message_outcomes(uow, [_message("message.requested", {"request_id": "r", "contact_id": LIVE})])
    assert uow.contacts.timeline == []
