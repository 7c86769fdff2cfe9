"""Bad input at the edges: HTTP requests answered 4xx with problem bodies, malformed messages dead-lettered."""

from __future__ import annotations

import json

import pika
import pytest

from shared.http.auth import endpoints_without_roles
from shared.messaging import Message
from tests.integration.scheduler.conftest import send, states
from tests.support import drain_queue, queue_depth, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def harness(make_harness):
    return make_harness()


def test_every_endpoint_declares_roles(harness):
    assert endpoints_without_roles(harness.app) == []


@pytest.mark.parametrize("method, path, kwargs, status, field", [
    ("GET", "/entries?state=done", {}, 422, "state"),
    ("GET", "/entries?limit=abc", {}, 422, "limit"),
    ("GET", "/entries?limit=0", {}, 422, "limit"),
    ("GET", "/entries?due_before=yesterday", {}, 422, "due_before"),
    ("GET", "/entries?due_before=2026-01-01T00:00:00", {}, 422, "due_before"),  # no offset
    ("GET", "/entries?colour=red", {}, 422, "colour"),
    ("GET", "/entries?cursor=%%%", {}, 400, "cursor"),
    ("GET", "/entries/overdue?limit=5000", {}, 422, "limit"),
    ("GET", "/schedules?owner=", {}, 422, "owner"),
    ("GET", "/schedules?cursor=!!", {}, 400, "cursor"),
    ("POST", "/owners/camp/pause", {"data": "{not json", "content_type": "application/json"}, 400, None),
    ("POST", "/owners/camp/pause", {"json": {"reason": "x", "extra": 1}}, 422, "extra"),
    ("POST", "/owners/camp/resume", {"json": {"reason": 5}}, 422, "reason"),
    ("POST", "/owners/camp/resume", {"json": ["reason"]}, 422, None),
    ("POST", "/owners//pause", {}, 404, None),  # the owner is missing
    ("POST", f"/owners/{'x' * 129}/pause", {}, 422, "owner"),
    ("POST", "/schedules/unknown/trigger", {}, 404, None),
    ("DELETE", "/entries", {}, 405, None),
])
def test_bad_requests_get_problem_bodies(harness, method, path, kwargs, status, field):
    response = harness.request(method, path, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    if field is not None:
        assert field in response.json["errors"]


def test_keys_and_roles_are_required(harness):
    assert harness.get("/stats", role=None).status_code == 401
    assert harness.get("/stats", role="marketer").status_code == 403
    assert harness.post("/owners/x/pause", role="agent").status_code == 403
    assert harness.get("/stats").status_code == 200


def test_malformed_and_invalid_messages_are_dead_lettered_with_reason(make_harness, amqp_url):
    harness = make_harness(own_namespace=True, retry_delays_ms="50,50")
    broker_namespace = harness.settings.namespace
    dead = f"{broker_namespace}.scheduler.requests.dead"
    harness.start_worker(background=False)
    drain_queue(dead)
    good = {"entry_id": "ok-1", "due_at": "2026-06-01T10:00:00+00:00", "message_type": "step.due",
            "payload": {"enrollment_id": "en", "step_id": "s"}}
    send(amqp_url, broker_namespace, [
        Message(type="schedule.requested", payload={k: v for k, v in good.items() if k != "due_at"}),
        Message(type="schedule.requested", payload={**good, "due_at": "2026-06-01T10:00:00"}),
        Message(type="schedule.requested", payload={**good, "message_type": "contact.erased"}),
        Message(type="schedule.requested", payload={**good, "message_type": "message.requested"}),
        Message(type="schedule.recurring.upserted", payload={"schedule_id": "s", "cron": "every day"}),
        Message(type="schedule.recurring.upserted", payload={"schedule_id": "s", "cron": "0 9 * * *",
                                                             "timezone": "Europe/Atlantis"}),
        Message(type="message.deferred", payload={"request_id": "r", "contact_id": "c", "channel": "sms",
                                                  "outcome": "deferred", "decided_at": "2026-06-01T10:00:00+00:00"}),
        Message(type="schedule.cancelled", payload={}),
        Message(type="schedule.requested", payload=good),
    ])
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    connection.channel().basic_publish(f"{broker_namespace}.events", "schedule.requested", b"{broken")
    connection.close()
    wait_for(lambda: queue_depth(dead) == 9, timeout=30, message="nine dead letters")
    reasons = sorted(props.headers["x-error"] for props, _ in drain_queue(dead))
    expected = ["body is not JSON", "due_at", "due_at", "message_type", "payload of message.requested invalid",
                "five fields", "unknown time zone", "without defer_until", "needs entry_id or owner"]
    for fragment in expected:
        assert any(fragment in reason for reason in reasons), (fragment, json.dumps(reasons, indent=1))
    assert states(harness.engine) == {"pending": 1}
