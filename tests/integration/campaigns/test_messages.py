"""Malformed messages are dead-lettered with their reason; erasure and projections on the real broker."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pika
import pytest
from sqlalchemy import select

from services.campaigns.repository import consents, contacts, enrollments, suppressions
from shared.messaging import Message
from tests.integration.campaigns.conftest import activate
from tests.support import current_amqp_url, drain_queue, queue_depth, wait_for

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).isoformat()


def test_malformed_messages_are_dead_lettered_with_the_reason(campaigns, broker_namespace):
    dead = {q: f"{broker_namespace}.campaigns.{q}.dead" for q in ("contacts", "steps", "outcomes", "broadcasts")}
    for queue in dead.values():
        drain_queue(queue)
    bad = [
        ("contacts", "contact.event.withdrawal", b"not json"),
        ("contacts", "contact.event.withdrawal", Message("contact.event.withdrawal", {"contact_id": "x"}).to_body()),
        ("contacts", "contact.upserted", Message("contact.upserted", {"contact_id": "x", "colour": 1}).to_body()),
        ("steps", "step.due", Message("step.due", {"step_id": "s"}).to_body()),
        ("outcomes", "message.sent", Message("message.sent", {"request_id": "r", "contact_id": "c",
                                                               "channel": "email", "outcome": "teleported",
                                                               "decided_at": NOW}).to_body()),
        ("broadcasts", "broadcast.due", Message("broadcast.due", {"schedule_id": "s", "fire_time": "soon"}).to_body()),
        ("broadcasts", "campaign.broadcast.page", json.dumps({"id": "1"}).encode()),
    ]
    with pika.BlockingConnection(pika.URLParameters(current_amqp_url())) as connection:
        channel = connection.channel()
        for _queue, key, body in bad:
            channel.basic_publish(f"{broker_namespace}.events", key, body)
    expected = {q: sum(1 for b in bad if b[0] == q) for q in dead}
    wait_for(lambda: all(queue_depth(dead[q]) == n for q, n in expected.items()), message="all dead-lettered")
    reasons = [props.headers["x-error"] for props, _ in drain_queue(dead["contacts"])]
    assert "body is not JSON" in reasons[0] and "occurred_at" in reasons[1] and "colour" in reasons[2]
    [(props, _)] = drain_queue(dead["outcomes"])
    assert "outcome" in props.headers["x-error"]


def test_erasure_forgets_the_contact_and_ends_its_enrollments(campaigns, tap, driver):
    activate(campaigns, {
        "name": "erasure", "category": "marketing", "entry": {"type": "event", "event_type": "visited"},
        "steps": [{"id": "hi", "type": "send", "channel": "email", "next": "w", "template": {"body": "hi"}},
                  {"id": "w", "type": "wait", "duration": "3d", "next": "again"},
                  {"id": "again", "type": "send", "channel": "email", "template": {"body": "again"}}]})
    contact = f"c-{uuid.uuid4().hex[:10]}"
    driver.contact(contact, tier="gold")
    driver.publish("contact.consent.changed", {"contact_id": contact, "channel": "email", "status": "granted",
                                               "changed_at": NOW}, key=contact)
    driver.publish("contact.suppression.changed", {
        "contact_id": contact, "suppression_id": f"s-{contact}", "scope": "topic", "value": "loans",
        "reason": "product_held", "active": True, "changed_at": NOW}, key=contact)
    driver.event(contact, "visited")
    [wake] = tap.wait("schedule.requested", key=contact)
    with campaigns.engine.connect() as conn:
        assert conn.execute(select(consents.c.status).where(consents.c.contact_id == contact)).scalar() == "granted"
        assert conn.execute(select(suppressions.c.value).where(suppressions.c.contact_id == contact)).scalar() == "loans"
    driver.publish("contact.erased", {"contact_id": contact, "erased_at": NOW}, key=contact)
    tap.wait("schedule.cancelled", entry_id=wake["entry_id"])

    def state():
        with campaigns.engine.connect() as conn:
            return (conn.execute(select(enrollments.c.status, enrollments.c.trigger_event)
                                 .where(enrollments.c.contact_id == contact)).one(),
                    conn.execute(select(contacts.c.email).where(contacts.c.contact_id == contact)).first())

    wait_for(lambda: state() == (("exited", None), None), message="enrollment ended, projection gone")
    driver.step_due(wake)
    time.sleep(0.5)
    assert len(tap.of("message.requested", contact_id=contact)) == 1
