"""Segment broadcasts (`handlers.broadcasts`) against in-memory fakes of their repositories and segment."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.campaigns.handlers.broadcasts import handle_broadcast_due, handle_broadcast_page
from services.campaigns.handlers.context import CampaignCatalog
from services.campaigns.handlers.events import Engine
from services.campaigns.segments import InMemorySegmentSource
from shared.clock import FixedClock
from shared.messaging import Message
from tests.unit.campaigns.fakes import FakeUnitOfWork

NOW = datetime(2026, 12, 1, 8, 0, 5, tzinfo=UTC)
FIRE = datetime(2026, 12, 1, 8, tzinfo=UTC)
MEMBERS = [{"contact_id": f"m{i}", "email": f"m{i}@example.com", "first_name": f"N{i}", "time_zone": "Europe/Paris",
            "attributes": {"tier": "gold"}} for i in range(5)]
NEWS = {"name": "news", "category": "marketing",
        "entry": {"type": "segment", "segment_id": "seg", "schedule": {"cron": "0 9 1 * *"}},
        "steps": [{"id": "mail", "type": "send", "channel": "email",
                   "template": {"body": "Hello {{ contact.first_name }} ({{ contact.tier }})"}}],
        "reentry": {"policy": "always"}}
DRIP = {**NEWS, "steps": [{**NEWS["steps"][0], "next": "pause"},
                          {"id": "pause", "type": "wait", "duration": "1d", "next": "again"},
                          {"id": "again", "type": "send", "channel": "email", "template": {"body": "Again"}}]}


@pytest.fixture
def engine() -> Engine:
    return Engine(CampaignCatalog(), clock=FixedClock(NOW))


def due() -> Message:
    return Message("broadcast.due", {"schedule_id": "campaign:cmp", "campaign_id": "cmp", "fire_time": FIRE})


def run(uow: FakeUnitOfWork, engine: Engine, source: InMemorySegmentSource) -> None:
    """broadcast.due, then every page it announces, as the broadcasts queue would deliver them."""
    handle_broadcast_due(uow, due(), engine, source, page_size=2)
    handled = 0
    while len(uow.of_type("campaign.broadcast.page")) > handled:
        page = uow.of_type("campaign.broadcast.page")[handled]
        handle_broadcast_page(uow, Message(page["type"], page["payload"]), engine, source, page_size=2)
        handled += 1


def test_a_broadcast_enrolls_every_member_page_by_page_and_requests_once_each(engine: Engine) -> None:
    uow = FakeUnitOfWork()
    uow.campaigns.add_campaign("cmp", NEWS)
    run(uow, engine, InMemorySegmentSource({"seg": MEMBERS}))
    requests = uow.of_type("message.requested")
    assert sorted(r["key"] for r in requests) == [m["contact_id"] for m in MEMBERS]
    assert {r["payload"]["content"]["body"] for r in requests} == {f"Hello N{i} (gold)" for i in range(5)}
    assert {r["payload"]["occurrence"] for r in requests} == {"20261201T080000Z"}
    assert {e.status for e in uow.enrollments.enrollments.values()} == {"completed"}
    run_row = uow.broadcasts.runs[("cmp", "20261201T080000Z")]
    assert (run_row["pages"], run_row["enrolled"], run_row["finished_at"] is not None) == (3, 5, True)
    assert len(uow.broadcasts.locked) == 3  # every page under its run's lock
    assert uow.contacts.contacts == {}  # a campaign that never parks needs no contact copies


def test_the_same_fire_time_twice_runs_once(engine: Engine) -> None:
    uow = FakeUnitOfWork()
    uow.campaigns.add_campaign("cmp", NEWS)
    source = InMemorySegmentSource({"seg": MEMBERS})
    run(uow, engine, source)
    before = len(uow.published)
    handle_broadcast_due(uow, due(), engine, source, page_size=2)
    assert len(uow.published) == before and len(uow.enrollments.enrollments) == 5


def test_a_redelivered_page_enrolls_nobody_twice(engine: Engine) -> None:
    uow = FakeUnitOfWork()
    uow.campaigns.add_campaign("cmp", NEWS)
    source = InMemorySegmentSource({"seg": MEMBERS})
    run(uow, engine, source)
    page = uow.of_type("campaign.broadcast.page")[0]
    handle_broadcast_page(uow, Message(page["type"], page["payload"]), engine, source, page_size=2)
    assert len(uow.enrollments.enrollments) == 5 and len(uow.of_type("message.requested")) == 5


def test_a_campaign_that_parks_keeps_a_copy_of_its_members_and_schedules_their_wakes(engine: Engine) -> None:
    uow = FakeUnitOfWork()
    uow.campaigns.add_campaign("cmp", DRIP)
    run(uow, engine, InMemorySegmentSource({"seg": MEMBERS}))
    assert set(uow.contacts.contacts) == {m["contact_id"] for m in MEMBERS}
    assert len(uow.of_type("schedule.requested")) == 5
    assert {(e.status, e.current_step) for e in uow.enrollments.enrollments.values()} == {("active", "pause")}


@pytest.mark.parametrize("status", ["paused", "draft"])
def test_an_inactive_campaign_does_not_broadcast(engine: Engine, status: str) -> None:
    uow = FakeUnitOfWork()
    uow.campaigns.add_campaign("cmp", NEWS, status=status)
    run(uow, engine, InMemorySegmentSource({"seg": MEMBERS}))
    assert uow.published == [] and uow.broadcasts.runs == {}


def test_a_campaign_paused_mid_run_stops_at_the_next_page(engine: Engine) -> None:
    uow = FakeUnitOfWork()
    uow.campaigns.add_campaign("cmp", NEWS)
    source = InMemorySegmentSource({"seg": MEMBERS})
    handle_broadcast_due(uow, due(), engine, source, page_size=2)
    uow.campaigns.statuses["cmp"] = "paused"
    (page,) = uow.of_type("campaign.broadcast.page")
    handle_broadcast_page(uow, Message(page["type"], page["payload"]), engine, source, page_size=2)
    assert len(uow.enrollments.enrollments) == 2
    run_row = uow.broadcasts.runs[("cmp", "20261201T080000Z")]
    assert (run_row["pages"], run_row["enrolled"], run_row["finished_at"] is not None) == (2, 2, True)
