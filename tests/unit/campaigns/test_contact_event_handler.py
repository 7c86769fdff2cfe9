"""Contact events (`handlers.events.handle_contact_event`) and send outcomes (`handle_message_outcome`)
against in-memory fakes of their repositories: triggers, re-entry, exit goals, duplicates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.campaigns.domain.enrollment import Enrollment
from services.campaigns.handlers.context import CampaignCatalog
from services.campaigns.handlers.events import (
    Engine,
    handle_contact_event,
    handle_contact_events,
    handle_message_outcome,
    handle_message_outcomes,
)
from shared.clock import FixedClock
from shared.messaging import Message
from tests.unit.campaigns.fakes import FakeUnitOfWork

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
WELCOME = {"name": "welcome", "category": "marketing", "priority": 10, "topic": "onboarding",
           "entry": {"type": "event", "event_type": "signup", "condition": "event.plan == 'pro'"},
           "exit_goals": [{"event_type": "purchase", "suppress_topic": "onboarding"}],
           "steps": [{"id": "hello", "type": "send", "channel": "email",
                      "template": {"subject": "Hi {{ contact.first_name }}", "body": "Welcome to {{ event.plan }}"},
                      "next": "pause"},
                     {"id": "pause", "type": "wait", "duration": "2d", "next": "tip"},
                     {"id": "tip", "type": "send", "channel": "email", "template": {"body": "A tip"}}]}


@pytest.fixture
def engine() -> Engine:
    return Engine(CampaignCatalog(), clock=FixedClock(NOW))


@pytest.fixture
def uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.campaigns.add_campaign("cmp", WELCOME)
    uow.contacts.contacts["c1"] = {"contact_id": "c1", "first_name": "Ada", "email": "ada@example.com",
                                   "attributes": {}}
    return uow


def event(event_type: str = "signup", event_id: str = "ev1", contact_id: str = "c1", **data: object) -> Message:
    return Message(f"contact.event.{event_type}", {
        "event_id": event_id, "contact_id": contact_id, "type": event_type, "occurred_at": NOW.isoformat(),
        "data": {"plan": "pro", **data}})


def test_a_trigger_enrolls_sends_the_first_step_and_parks_on_the_wait(uow: FakeUnitOfWork, engine: Engine) -> None:
    handle_contact_event(uow, event(), engine)
    (enrollment,) = uow.enrollments.enrollments.values()
    assert (enrollment.campaign_id, enrollment.occurrence, enrollment.status) == ("cmp", "ev1", "active")
    assert (enrollment.current_step, enrollment.waiting_until) == ("pause", NOW + timedelta(days=2))
    assert enrollment.trigger_event["plan"] == "pro"
    (request,) = uow.of_type("message.requested")
    assert request["payload"]["content"]["subject"] == "Hi Ada"
    assert request["payload"]["content"]["body"] == "Welcome to pro"
    assert request["payload"]["topic"] == "onboarding" and request["key"] == "c1"
    (wake,) = uow.of_type("schedule.requested")
    assert wake["payload"]["due_at"] == (NOW + timedelta(days=2)).isoformat()
    assert wake["payload"]["payload"] == {"enrollment_id": enrollment.enrollment_id, "step_id": "pause",
                                          "campaign_id": "cmp", "occurrence": "ev1"}
    assert [s["status"] for s in uow.sends.sends.values()] == ["requested"]


def test_the_same_event_twice_takes_effect_once(uow: FakeUnitOfWork, engine: Engine) -> None:
    handle_contact_event(uow, event(), engine)
    before = list(uow.published)
    handle_contact_event(uow, event(), engine)
    assert uow.published == before and len(uow.enrollments.enrollments) == 1


@pytest.mark.parametrize("case", ["condition false", "other type", "campaign paused"])
def test_an_event_that_does_not_trigger_enrolls_nobody(uow: FakeUnitOfWork, engine: Engine, case: str) -> None:
    if case == "campaign paused":
        uow.campaigns.statuses["cmp"] = "paused"
    message = event("login") if case == "other type" else event(plan="free") if case == "condition false" else event()
    handle_contact_event(uow, message, engine)
    assert uow.enrollments.enrollments == {} and uow.published == []
    assert len(uow.contacts.events) == 1  # stored all the same: later conditions read the history


def test_reentry_never_keeps_a_contact_out_after_its_first_enrollment(uow: FakeUnitOfWork, engine: Engine) -> None:
    handle_contact_event(uow, event(), engine)
    (first,) = uow.enrollments.enrollments.values()
    uow.enrollments.end(first.enrollment_id, "completed", "done", NOW)
    handle_contact_event(uow, event(event_id="ev2"), engine)
    assert len(uow.enrollments.enrollments) == 1


def test_an_exit_goal_converts_the_enrollment_cancels_its_wake_and_asks_for_suppression(
        uow: FakeUnitOfWork, engine: Engine) -> None:
    handle_contact_event(uow, event(), engine)
    (enrollment,) = uow.enrollments.enrollments.values()
    uow.published.clear()
    handle_contact_event(uow, event("purchase", event_id="ev2"), engine)
    converted = uow.enrollments.enrollments[enrollment.enrollment_id]
    assert (converted.status, converted.reason, converted.ended_at) == ("converted", "exit goal purchase", NOW)
    assert (converted.current_step, converted.waiting_until) == (None, None)
    assert [m["type"] for m in uow.published] == ["schedule.cancelled", "send.plan_cancelled",
                                                  "interaction.recorded"]
    cancelled, _, recorded = uow.published
    assert cancelled["payload"]["entry_id"].startswith(f"wake:{enrollment.enrollment_id}:pause")
    assert recorded["payload"]["data"]["value"] == "onboarding"
    assert recorded["payload"]["type"] == "suppression_requested"


def _state(uow: FakeUnitOfWork) -> tuple:
    """What a run of events left, with the random enrollment ids replaced by their contact and occurrence;
    the messages in the order each contact's were published (their order across contacts is free)."""
    names = {e.enrollment_id: f"{e.contact_id}/{e.occurrence}" for e in uow.enrollments.enrollments.values()}

    def named(value: object) -> object:
        if isinstance(value, dict):
            return {k: named(v) for k, v in value.items()}
        if isinstance(value, str):
            for enrollment_id, name in names.items():
                value = value.replace(enrollment_id, name)
        return value

    enrollments = sorted((names[e.enrollment_id], e.status, e.current_step, e.reason)
                         for e in uow.enrollments.enrollments.values())
    return enrollments, [(m["key"], m["type"], named(m["payload"])) for m in sorted(uow.published, key=lambda m: m["key"])]


def test_a_batch_has_the_effect_of_its_events_one_by_one(engine: Engine) -> None:
    """Several events of one contact (trigger, duplicate trigger, exit goal, trigger again) among other
    contacts' events: the batch ends where the same events handled one at a time end."""
    def fresh() -> FakeUnitOfWork:
        uow = FakeUnitOfWork()
        uow.campaigns.add_campaign("cmp", {**WELCOME, "reentry": {"policy": "always"}})
        for cid in ("c1", "c2", "c3"):
            uow.contacts.contacts[cid] = {"contact_id": cid, "first_name": cid, "attributes": {}}
        return uow

    messages = [event(event_id="a1"), event(event_id="b1", contact_id="c2"), event(event_id="a2"),
                event("purchase", event_id="a3"), event(event_id="c1-again", contact_id="c3"),
                event(event_id="a4"), event(event_id="b1", contact_id="c2"), event(plan="free", event_id="a5")]
    one_by_one, batched = fresh(), fresh()
    for message in messages:
        handle_contact_event(one_by_one, message, engine)
    handle_contact_events(batched, messages, engine)
    assert _state(batched) == _state(one_by_one)
    enrollments, _ = _state(batched)
    assert enrollments == [("c1/a1", "converted", None, "exit goal purchase"), ("c1/a4", "active", "pause", None),
                           ("c2/b1", "active", "pause", None), ("c3/c1-again", "active", "pause", None)]


def test_a_batch_reads_and_writes_once_per_kind_not_once_per_event(uow: FakeUnitOfWork, engine: Engine) -> None:
    calls: list[str] = []
    for store, name in ((uow.contacts, "get_many"), (uow.enrollments, "lock_running_many"),
                        (uow.campaigns, "triggered_by"), (uow.enrollments, "enroll_many")):
        original = getattr(store, name)
        setattr(store, name, lambda *args, _name=name, _original=original: calls.append(_name) or _original(*args))
    for cid in ("c2", "c3"):
        uow.contacts.contacts[cid] = {"contact_id": cid, "attributes": {}}
    handle_contact_events(uow, [event(event_id=f"e-{cid}", contact_id=cid) for cid in ("c1", "c2", "c3")], engine)
    assert sorted(calls) == ["enroll_many", "get_many", "lock_running_many", "triggered_by"]
    assert len(uow.of_type("message.requested")) == 3


def test_an_outcome_is_recorded_once_and_only_moves_forward(uow: FakeUnitOfWork, engine: Engine) -> None:
    handle_contact_event(uow, event(), engine)
    (request_id,) = uow.sends.sends
    (enrollment_id,) = uow.enrollments.enrollments

    def outcome(name: str) -> Message:
        return Message(f"message.{name}", {"request_id": request_id, "outcome": name, "decided_at": NOW.isoformat()})

    handle_message_outcome(uow, outcome("delivered"))
    handle_message_outcome(uow, outcome("sent"))  # late: an earlier stage does not roll the send back
    assert uow.sends.sends[request_id]["status"] == "delivered"
    assert set(uow.sends.outcomes) == {(request_id, "delivered"), (request_id, "sent")}
    assert uow.enrollments.enrollments[enrollment_id].step_outcomes == {"hello": "delivered"}


def test_an_outcome_of_a_request_that_is_not_ours_is_ignored(uow: FakeUnitOfWork) -> None:
    handle_message_outcome(uow, Message("message.sent", {"request_id": "sched:1", "outcome": "sent",
                                                         "decided_at": NOW.isoformat()}))
    assert uow.sends.outcomes == {}


def test_a_running_enrollment_blocks_a_second_one(uow: FakeUnitOfWork, engine: Engine) -> None:
    always = {**WELCOME, "reentry": {"policy": "always"}}
    uow.campaigns.add_campaign("cmp", always)
    uow.enrollments.enrollments["old"] = Enrollment(campaign_id="cmp", version=1, contact_id="c1",
                                                    enrollment_id="old", occurrence="ev0", current_step="pause",
                                                    waiting_until=NOW + timedelta(days=1))
    handle_contact_event(uow, event(), engine)
    assert list(uow.enrollments.enrollments) == ["old"]


def test_a_batch_of_outcomes_has_the_effect_of_each_in_turn(uow: FakeUnitOfWork, engine: Engine) -> None:
    handle_contact_event(uow, event(), engine)
    (request_id,) = uow.sends.sends
    (enrollment_id,) = uow.enrollments.enrollments

    def outcome(name: str, request: str = request_id, reason: str | None = None) -> Message:
        return Message(f"message.{name}", {"request_id": request, "outcome": name, "reason": reason,
                                           "decided_at": NOW.isoformat()})

    handle_message_outcomes(uow, [outcome("sent", reason="first"), outcome("delivered"), outcome("sched", "x:1"),
                                  outcome("sent", reason="again"), outcome("duplicate")])
    assert uow.sends.sends[request_id]["status"] == "delivered"  # a late sent does not move it back
    assert set(uow.sends.outcomes) == {(request_id, "sent"), (request_id, "delivered"), (request_id, "duplicate")}
    assert uow.sends.outcomes[(request_id, "sent")]["reason"] == "first"  # the first report of an outcome stays
    assert uow.enrollments.enrollments[enrollment_id].step_outcomes == {"hello": "delivered"}
    handle_message_outcomes(uow, [outcome("opened")])  # a later batch builds on what the earlier one left
    assert uow.sends.sends[request_id]["status"] == "opened"
    assert uow.enrollments.enrollments[enrollment_id].step_outcomes == {"hello": "opened"}


def test_a_batch_of_outcomes_of_requests_that_are_not_ours_writes_nothing(uow: FakeUnitOfWork) -> None:
    uow.sends.record_outcomes = uow.sends.set_statuses = None  # would raise if called
    handle_message_outcomes(uow, [Message("message.sent", {"request_id": "sched:1", "outcome": "sent",
                                                           "decided_at": NOW.isoformat()})])
    assert uow.sends.outcomes == {}


def test_parking_before_a_send_announces_the_planned_send_and_an_exit_goal_withdraws_it(
        uow: FakeUnitOfWork, engine: Engine) -> None:
    handle_contact_event(uow, event(), engine)
    (enrollment,) = uow.enrollments.enrollments.values()
    (planned,) = uow.of_type("send.planned")
    plan_id = f"plan:{enrollment.enrollment_id}:tip:ev1"
    assert planned["payload"] == {
        "plan_id": plan_id, "contact_id": "c1", "channel": "email", "category": "marketing", "priority": 10,
        "due_at": (NOW + timedelta(days=2)).isoformat(), "campaign_id": "cmp", "step_id": "tip",
        "occurrence": "ev1", "planned_at": NOW.isoformat()}
    handle_contact_event(uow, event("purchase", event_id="ev2"), engine)
    (cancelled,) = uow.of_type("send.plan_cancelled")
    assert cancelled["payload"] == {"plan_id": plan_id, "cancelled_at": NOW.isoformat()}
