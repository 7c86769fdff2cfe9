"""A drip across channels with a branch on a send's outcome, exit goals, and versions (real broker + db)."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import select

from services.campaigns.repository import enrollments
from tests.integration.campaigns.conftest import activate
from tests.support import wait_for

pytestmark = pytest.mark.integration


def _cid() -> str:
    return f"c-{uuid.uuid4().hex[:10]}"


DRIP = {
    "name": "Welcome drip: email, wait, then an SMS that depends on whether the email was opened",
    "category": "marketing",
    "entry": {"type": "event", "event_type": "signed_up"},
    "steps": [
        {"id": "welcome", "type": "send", "channel": "email", "next": "pause",
         "template": {"subject": "Welcome {{ contact.first_name }}", "body": "Hello {{ contact.first_name }}",
                      "html": "<p>Hello {{ contact.first_name }}</p>"}},
        {"id": "pause", "type": "wait", "duration": "2d", "next": "opened?"},
        {"id": "opened?", "type": "branch",
         "branches": [{"condition": "step.welcome.outcome in ['opened', 'clicked']", "next": "thanks"}],
         "else": "nudge"},
        {"id": "thanks", "type": "send", "channel": "sms", "template": {"body": "Thanks for reading!"}},
        {"id": "nudge", "type": "send", "channel": "sms", "template": {"body": "Did you see our email?"}},
    ],
}


def _enrollment(harness, contact_id: str) -> dict:
    with harness.engine.connect() as conn:
        return dict(conn.execute(select(enrollments).where(enrollments.c.contact_id == contact_id)).mappings().one())


def test_three_step_drip_branches_on_the_email_outcome(campaigns, tap, driver):
    campaign_id = activate(campaigns, DRIP)
    reader, ignorer = _cid(), _cid()
    for contact in (reader, ignorer):
        driver.contact(contact)
        driver.event(contact, "signed_up")
    emails = {c: tap.wait("message.requested", contact_id=c)[0] for c in (reader, ignorer)}
    assert emails[reader]["channel"] == "email"
    assert emails[reader]["content"] == {"subject": "Welcome Jane", "body": "Hello Jane",
                                         "html": "<p>Hello Jane</p>"}
    wakes = {c: tap.wait("schedule.requested", key=c)[0] for c in (reader, ignorer)}
    assert wakes[reader]["message_type"] == "step.due" and wakes[reader]["owner"] == campaign_id
    # channels reports: both sent, the reader opened (the open overtakes its `sent`)
    driver.outcome(emails[reader], "opened")
    driver.outcome(emails[reader], "sent")
    driver.outcome(emails[ignorer], "sent")
    wait_for(lambda: _enrollment(campaigns, reader)["step_outcomes"] == {"welcome": "opened"}
             and _enrollment(campaigns, ignorer)["step_outcomes"] == {"welcome": "sent"}, message="outcomes recorded")
    for contact in (reader, ignorer):
        driver.step_due(wakes[contact])  # as the scheduler does two days later
    assert tap.wait("message.requested", 2, contact_id=reader)[1]["content"]["body"] == "Thanks for reading!"
    assert tap.wait("message.requested", 2, contact_id=ignorer)[1]["content"]["body"] == "Did you see our email?"
    assert tap.of("message.requested", contact_id=reader)[1]["channel"] == "sms"
    driver.step_due(wakes[reader])  # a repeated wake-up changes nothing
    wait_for(lambda: _enrollment(campaigns, reader)["status"] == "completed", message="the drip completes")
    report = campaigns.get(f"/campaigns/{campaign_id}/report", role="marketer").get_json()
    assert report["enrollments"]["enrolled"] == 2 and report["enrollments"]["completed"] == 2
    assert report["steps"]["welcome"]["requested"] == 2
    assert report["steps"]["welcome"]["sent"] == 2 and report["steps"]["welcome"]["opened"] == 1
    assert report["steps"]["thanks"]["requested"] == 1 and report["steps"]["nudge"]["requested"] == 1
    time.sleep(0.3)
    assert len(tap.of("message.requested", contact_id=reader)) == 2


MORTGAGE = {
    "name": "Mortgage offer after a move",
    "category": "marketing", "topic": "mortgage",
    "entry": {"type": "event", "event_type": "moved", "condition": "event.channel == 'call_center'"},
    "steps": [
        {"id": "offer", "type": "send", "channel": "web", "next": "later",
         "template": {"body": "A mortgage for your new home"}},
        {"id": "later", "type": "wait", "duration": "1d", "next": "mail"},
        {"id": "mail", "type": "send", "channel": "email", "template": {"subject": "Mortgages", "body": "Rates!"}},
    ],
    "exit_goals": [{"event_type": "mortgage_opened", "suppress_topic": "mortgage"}],
}


def test_exit_goal_stops_the_drip_and_requests_a_topic_suppression(campaigns, tap, driver):
    """A customer who took out a mortgage on Monday gets no mortgage mailing on Tuesday."""
    campaign_id = activate(campaigns, MORTGAGE)
    contact = _cid()
    driver.contact(contact)
    driver.event(contact, "moved", channel="call_center")
    [offer] = tap.wait("message.requested", contact_id=contact)
    assert offer["topic"] == "mortgage" and offer["channel"] == "web"
    [wake] = tap.wait("schedule.requested", key=contact)
    driver.event(contact, "mortgage_opened", product="mortgage")  # Monday
    [suppression] = tap.wait("interaction.recorded", contact_id=contact)
    assert suppression["type"] == "suppression_requested"
    assert suppression["data"]["scope"] == "topic" and suppression["data"]["value"] == "mortgage"
    assert suppression["data"]["reason"] == "product_held"
    assert tap.wait("schedule.cancelled", entry_id=wake["entry_id"])
    wait_for(lambda: _enrollment(campaigns, contact)["status"] == "converted", message="converted")
    driver.step_due(wake)  # Tuesday: the scheduler fires anyway (it had not seen the cancel yet)
    time.sleep(0.5)
    assert len(tap.of("message.requested", contact_id=contact)) == 1
    report = campaigns.get(f"/campaigns/{campaign_id}/report", role="marketer").get_json()
    assert report["enrollments"]["converted"] == 1 and report["steps"]["offer"]["converted"] == 1


def test_running_enrollments_keep_their_version_when_an_active_campaign_is_edited(campaigns, tap, driver):
    v1 = {"name": "versioned", "category": "marketing", "entry": {"type": "event", "event_type": "joined"},
          "steps": [{"id": "hello", "type": "send", "channel": "email", "next": "w",
                     "template": {"body": "v1 hello"}},
                    {"id": "w", "type": "wait", "duration": "1d", "next": "bye"},
                    {"id": "bye", "type": "send", "channel": "email", "template": {"body": "v1 bye"}}]}
    campaign_id = activate(campaigns, v1)
    early, late = _cid(), _cid()
    driver.contact(early)
    driver.event(early, "joined")
    [wake] = tap.wait("schedule.requested", key=early)
    v2 = {**v1, "steps": [{**v1["steps"][0], "template": {"body": "v2 hello"}}, v1["steps"][1],
                          {**v1["steps"][2], "template": {"body": "v2 bye"}}]}
    edited = campaigns.put(f"/campaigns/{campaign_id}", json=v2, role="marketer")
    assert edited.status_code == 200 and edited.get_json()["version"] == 2
    assert [v["version"] for v in edited.get_json()["versions"]] == [1, 2]
    driver.contact(late)
    driver.event(late, "joined")
    assert tap.wait("message.requested", contact_id=late)[0]["content"]["body"] == "v2 hello"
    driver.step_due(wake)
    bodies = [r["content"]["body"] for r in tap.wait("message.requested", 2, contact_id=early)]
    assert bodies == ["v1 hello", "v1 bye"]
    assert tap.of("message.requested", contact_id=early)[1]["campaign_version"] == 1
