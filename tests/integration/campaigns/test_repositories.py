"""The campaigns repositories on the real PostgreSQL, through the handlers that use them (no broker).

The queries the HTTP and broker tests reach only in passing: a resume re-requesting the wakes of
parked enrollments in keyset batches, an archive ending running enrollments, the report's counts
of outcomes, template failures and conversions, and the newest-wins contact copies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.campaigns.domain.enrollment import Enrollment
from services.campaigns.handlers import definitions, events, projections, reports
from services.campaigns.handlers.context import CampaignCatalog
from services.campaigns.repository import TABLES, step_sends
from services.campaigns.service import DEFINITION
from services.campaigns.unit_of_work import CampaignsUnitOfWorkFactory
from shared.clock import FixedClock
from shared.db.engine import make_engine
from shared.messaging import Message
from tests.support import fresh_database

pytestmark = pytest.mark.integration

NOW = datetime(2099, 3, 4, 12, 0, tzinfo=UTC)  # ahead of the wall clock resume compares waits with
CHANNELS = {"email"}
DRIP = {"name": "drip", "category": "marketing", "priority": 10,
        "entry": {"type": "event", "event_type": "signup"},
        "exit_goals": [{"event_type": "purchase"}],
        "steps": [{"id": "hello", "type": "send", "channel": "email", "template": {"body": "hi"}, "next": "pause"},
                  {"id": "pause", "type": "wait", "duration": "1d", "next": "bye"},
                  {"id": "bye", "type": "send", "channel": "email", "template": {"body": "{{ contact.nope.x }}"}}]}


@pytest.fixture(scope="module")
def units() -> Iterator[CampaignsUnitOfWorkFactory]:
    engine = make_engine(fresh_database("campaigns_repositories", DEFINITION.migrations_dir))
    yield CampaignsUnitOfWorkFactory(engine)
    engine.dispose()


def _event(contact_id: str, event_type: str, event_id: str) -> Message:
    return Message(f"contact.event.{event_type}", {"event_id": event_id, "contact_id": contact_id,
                                                   "type": event_type, "occurred_at": NOW, "data": {}})


def _wakes(units: CampaignsUnitOfWorkFactory, campaign_id: str) -> list[dict]:
    """The schedule.requested payloads of the campaign in the outbox (no relay runs here)."""
    outbox = TABLES.outbox
    with units.read() as uow:
        bodies = uow.outbox.conn.execute(select(outbox.c.body).where(
            outbox.c.message_type == "schedule.requested").order_by(outbox.c.id)).scalars().all()
    payloads = [json.loads(body)["payload"] for body in bodies]
    return [p for p in payloads if p["owner"] == campaign_id]


def _active_campaign(units: CampaignsUnitOfWorkFactory, raw: dict) -> str:
    with units() as uow:
        campaign_id = definitions.create_campaign(uow, raw, CHANNELS)["campaign_id"]
        definitions.transition(uow, campaign_id, "activate", CHANNELS, NOW)
    return campaign_id


def test_resume_requests_every_parked_wake_in_keyset_batches_and_archive_ends_them(
        units: CampaignsUnitOfWorkFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    campaign_id = _active_campaign(units, {**DRIP, "entry": {"type": "event", "event_type": "signup-a"}})
    engine = events.Engine(CampaignCatalog(), clock=FixedClock(NOW))
    with units() as uow:
        for i in range(5):
            events.handle_contact_event(uow, _event(f"ra{i}", "signup-a", f"ev-ra{i}"), engine)
    with units() as uow:
        definitions.transition(uow, campaign_id, "pause", CHANNELS, NOW)
    first = _wakes(units, campaign_id)
    monkeypatch.setattr(definitions, "RESCHEDULE_BATCH", 2)  # 5 parked: batches of 2, 2 and 1
    with units() as uow:
        definitions.transition(uow, campaign_id, "resume", CHANNELS, NOW)
    again = _wakes(units, campaign_id)[len(first):]
    assert len(first) == 5
    assert sorted(w["entry_id"] for w in again) == sorted(w["entry_id"] for w in first)
    assert {w["due_at"] for w in again} == {(NOW + timedelta(days=1)).isoformat()}
    with units() as uow:
        definitions.transition(uow, campaign_id, "archive", CHANNELS, NOW)
    with units.read() as uow:
        assert uow.enrollments.parked_of_campaign(campaign_id, "", 100) == []
        ended = uow.enrollments.lock_running("ra0")
    assert ended == []


def test_the_report_counts_outcomes_template_failures_and_conversions(units: CampaignsUnitOfWorkFactory) -> None:
    campaign_id = _active_campaign(units, {**DRIP, "entry": {"type": "event", "event_type": "signup-b"}})
    engine = events.Engine(CampaignCatalog(), clock=FixedClock(NOW))
    with units() as uow:
        for i in range(3):
            events.handle_contact_event(uow, _event(f"rb{i}", "signup-b", f"ev-rb{i}"), engine)
    with units.read() as uow:
        sends = uow.reports.requests(campaign_id)
        running = {cid: uow.enrollments.lock_running(cid) for cid in ("rb0", "rb1", "rb2")}
    assert sends == [("hello", None, 3)]
    with units.read() as uow:
        request_ids = {cid: uow.outbox.conn.execute(select(step_sends.c.request_id).where(
            step_sends.c.enrollment_id == enrollment.enrollment_id)).scalar_one()
            for cid, (enrollment,) in running.items()}
    with units() as uow:
        # one batch, as the outcomes consumer hands them over (sends and enrollments locked once each)
        events.handle_message_outcomes(uow, [Message(f"message.{outcome}", {
            "request_id": request_ids[cid], "outcome": outcome, "reason": "unsubscribed", "decided_at": NOW})
            for cid, outcome in (("rb0", "sent"), ("rb0", "opened"), ("rb1", "suppressed"), ("rb1", "suppressed"),
                                 ("rb0", "sent"))])
        events.handle_contact_event(uow, _event("rb2", "purchase", "ev-rb2-buy"), engine)  # exit goal
        # rb0's wait is over; its last step's template cannot render for this contact
        events.handle_step_due(uow, Message("step.due", {"enrollment_id": running["rb0"][0].enrollment_id,
                                                         "step_id": "pause"}), engine)
    with units.read() as uow:
        report = reports.campaign_report(uow, campaign_id)
        outcomes = uow.enrollments.lock_step_outcomes(running["rb0"][0].enrollment_id)
    assert report["enrollments"] == {"active": 1, "completed": 1, "converted": 1, "exited": 0, "enrolled": 3}
    hello, bye = report["steps"]["hello"], report["steps"]["bye"]
    assert (hello["requested"], hello["sent"], hello["opened"], hello["suppressed"]) == (3, 1, 1, 1)
    assert hello["suppressed_by_reason"] == {"unsubscribed": 1} and hello["converted"] == 1
    assert (bye["failed"], bye["requested"]) == (1, 0)
    assert outcomes == {"hello": "opened"}


def test_contact_copies_keep_the_newest_fact_and_erasure_forgets_them(units: CampaignsUnitOfWorkFactory) -> None:
    def upsert(first_name: str, at: datetime) -> Message:
        return Message("contact.upserted", {
            "contact_id": "rc", "external_id": None, "email": "rc@example.com", "phone": None,
            "first_name": first_name, "last_name": None, "locale": None, "time_zone": None, "attributes": {},
            "updated_at": at})

    with units() as uow:
        projections.handle_contact_upserted(uow, upsert("New", NOW))
        projections.handle_contact_upserted(uow, upsert("Old", NOW - timedelta(hours=1)))  # late: ignored
        projections.handle_consent_changed(uow, Message("contact.consent.changed", {
            "contact_id": "rc", "channel": "email", "status": "granted", "changed_at": NOW}))
        uow.contacts.record_event("ev-rc", "rc", "login", NOW, {"ok": True})
    with units.read() as uow:
        assert uow.contacts.get("rc")["first_name"] == "New"
        consents, suppressions, history = uow.contacts.facts("rc", NOW - timedelta(days=1), 10)
    assert (consents, suppressions, [h["type"] for h in history]) == ({"email": "granted"}, [], ["login"])
    with units() as uow:
        uow.enrollments.enroll_once(Enrollment(campaign_id="x", version=1, contact_id="rc", enrollment_id="rc-e",
                                               occurrence="o", trigger_event={"email": "rc@example.com"}), NOW)
        projections.handle_contact_erased(uow, Message("contact.erased", {"contact_id": "rc", "erased_at": NOW}))
    with units.read() as uow:
        assert uow.contacts.get("rc") is None
        assert uow.contacts.facts("rc", NOW - timedelta(days=1), 10) == ({}, [], [])
        erased = uow.enrollments.lock_enrollment("rc-e")
    assert (erased.status, erased.reason, erased.trigger_event) == ("exited", "contact erased", None)


def test_a_merge_moves_enrollments_and_keeps_one_where_both_profiles_run_a_campaign(
        units: CampaignsUnitOfWorkFactory) -> None:
    """contact.merged: the survivor's running enrollment is kept, the duplicate's exits and its wake is
    cancelled; the duplicate's other enrollments move to the survivor (an occurrence both had stays)."""
    both = _active_campaign(units, {**DRIP, "entry": {"type": "event", "event_type": "signup-m"}})
    only_duplicate = _active_campaign(units, {**DRIP, "entry": {"type": "event", "event_type": "signup-n"}})
    engine = events.Engine(CampaignCatalog(), clock=FixedClock(NOW))
    with units() as uow:
        events.handle_contact_event(uow, _event("ms", "signup-m", "ev-ms"), engine)
        events.handle_contact_event(uow, _event("md", "signup-m", "ev-md"), engine)
        events.handle_contact_event(uow, _event("md", "signup-n", "ev-md-n"), engine)
    with units.read() as uow:
        kept = uow.enrollments.lock_running("ms")
        duplicate_runs = {e.campaign_id: e for e in uow.enrollments.lock_running("md")}
    with units() as uow:
        projections.handle_contact_merged(uow, Message("contact.merged", {
            "contact_id": "ms", "duplicate_id": "md", "merged_at": NOW}))
    with units.read() as uow:
        running = {e.campaign_id: e.enrollment_id for e in uow.enrollments.lock_running("ms")}
        exited = uow.enrollments.lock_enrollment(duplicate_runs[both].enrollment_id)
        assert uow.enrollments.lock_running("md") == []
        cancelled = [json.loads(body)["payload"] for body in uow.outbox.conn.execute(
            select(TABLES.outbox.c.body).where(TABLES.outbox.c.message_type == "schedule.cancelled")).scalars()]
    assert running == {both: kept[0].enrollment_id, only_duplicate: duplicate_runs[only_duplicate].enrollment_id}
    assert (exited.status, exited.reason, exited.contact_id) == ("exited", "merged into contact ms", "ms")
    assert len([c for c in cancelled if duplicate_runs[both].enrollment_id in c.get("entry_id", "")]) == 1
