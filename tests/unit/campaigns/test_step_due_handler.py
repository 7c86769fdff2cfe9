"""The `step.due` use case (`handlers.events.handle_step_due`) against in-memory fakes of its repositories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.campaigns.domain.enrollment import Enrollment
from services.campaigns.handlers.context import CampaignCatalog
from services.campaigns.handlers.events import Engine, handle_step_due
from shared.clock import FixedClock
from shared.messaging import Message
from tests.unit.campaigns.fakes import FakeUnitOfWork

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
DRIP = {"name": "welcome", "category": "marketing", "priority": 10,
        "entry": {"type": "event", "event_type": "signup"},
        "steps": [{"id": "hello", "type": "send", "channel": "email", "template": {"body": "hi"}, "next": "pause"},
                  {"id": "pause", "type": "wait", "duration": "1d", "next": "tip"},
                  {"id": "tip", "type": "send", "channel": "email",
                   "template": {"subject": "A tip", "body": "Hello {{ contact.first_name }}"}}]}


@pytest.fixture
def engine() -> Engine:
    return Engine(CampaignCatalog(), clock=FixedClock(NOW))


def parked(uow: FakeUnitOfWork, waiting_until: datetime = NOW, **fields: object) -> Enrollment:
    enrollment = Enrollment(campaign_id="cmp", version=1, contact_id="c1", enrollment_id="e1", occurrence="ev1",
                            current_step="pause", waiting_until=waiting_until, **fields)
    uow.enrollments.enrollments["e1"] = enrollment
    return enrollment


def due(step_id: str = "pause") -> Message:
    return Message("step.due", {"enrollment_id": "e1", "step_id": step_id, "campaign_id": "cmp", "occurrence": "ev1"})


def test_a_due_wait_sends_the_next_step_and_ends_the_enrollment(engine: Engine) -> None:
    uow = FakeUnitOfWork()
    uow.campaigns.add_campaign("cmp", DRIP)
    uow.contacts.contacts["c1"] = {"contact_id": "c1", "first_name": "Ada", "email": "ada@example.com"}
    parked(uow)
    handle_step_due(uow, due(), engine)
    (request,) = [m for m in uow.published if m["type"] == "message.requested"]
    assert request["key"] == "c1"
    assert request["payload"]["step_id"] == "tip" and request["payload"]["priority"] == 10
    assert request["payload"]["content"] == {"subject": "A tip", "body": "Hello Ada", "html": None}
    assert request["payload"]["recipient"]["email"] == "ada@example.com"
    assert uow.sends.sends[request["payload"]["request_id"]]["status"] == "requested"
    done = uow.enrollments.enrollments["e1"]
    assert (done.status, done.current_step, done.ended_at) == ("completed", None, NOW)


def test_a_redelivered_wake_up_requests_nothing_twice(engine: Engine) -> None:
    uow = FakeUnitOfWork()
    uow.campaigns.add_campaign("cmp", DRIP)
    uow.contacts.contacts["c1"] = {"contact_id": "c1", "first_name": "Ada"}
    parked(uow)
    handle_step_due(uow, due(), engine)
    handle_step_due(uow, due(), engine)  # the enrollment has moved on: a late or repeated wake-up
    assert [m["type"] for m in uow.published] == ["message.requested"]


@pytest.mark.parametrize("case", ["other step", "campaign paused", "ended"])
def test_a_wake_up_that_no_longer_applies_changes_nothing(engine: Engine, case: str) -> None:
    uow = FakeUnitOfWork()
    uow.campaigns.add_campaign("cmp", DRIP, status="paused" if case == "campaign paused" else "active")
    before = parked(uow, status="exited" if case == "ended" else "active")
    handle_step_due(uow, due("hello" if case == "other step" else "pause"), engine)
    assert uow.published == [] and uow.sends.sends == {} and uow.enrollments.enrollments["e1"] == before


def test_a_scheduler_clock_ahead_of_ours_does_not_park_the_enrollment_again(engine: Engine) -> None:
    uow = FakeUnitOfWork()
    uow.campaigns.add_campaign("cmp", DRIP)
    parked(uow, waiting_until=NOW + timedelta(seconds=2))
    handle_step_due(uow, due(), engine)
    assert uow.enrollments.enrollments["e1"].status == "completed"


def test_a_template_that_cannot_render_is_recorded_as_failed_and_not_requested(engine: Engine) -> None:
    uow = FakeUnitOfWork()
    broken = {**DRIP, "steps": [*DRIP["steps"][:2], {**DRIP["steps"][2], "template": "gone"}]}
    uow.campaigns.add_campaign("cmp", broken)
    parked(uow)
    handle_step_due(uow, due(), engine)
    (send,) = uow.sends.sends.values()
    assert send["status"] == "failed" and "does not exist" in send["reason"]
    assert uow.published == []
