"""Interaction policies in real time, and idempotency under redelivery (real RabbitMQ + PostgreSQL)."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import func, select

from services.campaigns.repository import enrollments
from tests.integration.campaigns.conftest import activate

pytestmark = pytest.mark.integration


def _cid() -> str:
    return f"c-{uuid.uuid4().hex[:10]}"


WITHDRAWAL_POLICY = {
    "name": "Large withdrawal by a platinum customer: a sales rep calls",
    "category": "service", "priority": 90,
    "entry": {"type": "event", "event_type": "withdrawal",
              "condition": "event.amount > 10000 and contact.tier == 'platinum'"},
    "steps": [{"id": "call", "type": "send", "channel": "call", "priority": 100, "expires_after": "1d",
               "template": {"subject": "Call {{ contact.first_name }}",
                            "body": "{{ contact.first_name }} withdrew {{ event.amount }}; please call."}}],
    "reentry": {"policy": "always"},
}

ADDRESS_POLICY = {
    "name": "Address change through the call center: offer a mortgage on the personal page",
    "category": "marketing", "topic": "mortgage",
    "entry": {"type": "event", "event_type": "address_changed", "condition": "event.channel == 'call_center'"},
    "steps": [{"id": "offer", "type": "send", "channel": "web",
               "template": {"subject": "Moving?", "body": "{{ contact.first_name }}, a mortgage for {{ event.city }}"}}],
    "reentry": {"policy": "always"},
}


def test_withdrawal_policy_calls_platinum_customers_with_high_priority(campaigns, tap, driver):
    campaign_id = activate(campaigns, WITHDRAWAL_POLICY)
    platinum, gold = _cid(), _cid()
    driver.contact(platinum, tier="platinum")
    driver.contact(gold, tier="gold")
    driver.event(platinum, "withdrawal", amount=25000)
    driver.event(platinum, "withdrawal", amount=500)  # too small
    driver.event(gold, "withdrawal", amount=50000)  # not platinum
    [request] = tap.wait("message.requested", contact_id=platinum)
    assert request["channel"] == "call"
    assert request["priority"] == 100
    assert request["category"] == "service"
    assert request["campaign_id"] == campaign_id
    assert request["content"]["body"] == "Jane withdrew 25000; please call."
    assert request["recipient"]["phone"] == "+31612345678"
    assert request["expires_at"] is not None
    time.sleep(0.5)  # the other two events were published before the matching one's request arrived
    assert tap.of("message.requested", contact_id=gold) == []
    assert len(tap.of("message.requested", contact_id=platinum)) == 1


def test_address_change_through_call_center_offers_a_mortgage_on_the_web(campaigns, tap, driver):
    activate(campaigns, ADDRESS_POLICY)
    caller, web_user = _cid(), _cid()
    driver.contact(caller)
    driver.contact(web_user)
    driver.event(web_user, "address_changed", channel="web_form", city="Utrecht")  # not the call center
    driver.event(caller, "address_changed", channel="call_center", city="Utrecht")
    [offer] = tap.wait("message.requested", contact_id=caller)
    assert offer["channel"] == "web"
    assert offer["topic"] == "mortgage"
    assert offer["category"] == "marketing"
    assert offer["content"]["body"] == "Jane, a mortgage for Utrecht"
    time.sleep(0.5)
    assert tap.of("message.requested", contact_id=web_user) == []


def test_the_same_event_delivered_twice_enrolls_once_and_requests_once(campaigns, tap, driver):
    definition = {**WITHDRAWAL_POLICY, "name": "redelivery",
                  "entry": {"type": "event", "event_type": "deposit", "condition": "event.amount > 10"}}
    campaign_id = activate(campaigns, definition)
    contact = _cid()
    driver.contact(contact)
    # A broker redelivery (same message id) and a republish by contacts (same event id, new message id).
    event_id = driver.event(contact, "deposit", message_id="m-fixed-" + contact, amount=100)
    driver.event(contact, "deposit", event_id=event_id, message_id="m-fixed-" + contact, amount=100)
    driver.event(contact, "deposit", event_id=event_id, amount=100)
    tap.wait("message.requested", contact_id=contact)
    time.sleep(0.5)
    assert len(tap.of("message.requested", contact_id=contact)) == 1
    with campaigns.engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(enrollments).where(
            enrollments.c.campaign_id == campaign_id, enrollments.c.contact_id == contact)).scalar()
    assert count == 1
