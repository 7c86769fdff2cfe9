"""The campaigns HTTP API: lifecycle and its schedule messages, templates, previews, and bad input."""

from __future__ import annotations

import copy

import pytest

from shared.http.auth import endpoints_without_roles
from tests.integration.campaigns.conftest import activate

pytestmark = pytest.mark.integration

BROADCAST = {
    "name": "Spring sale", "category": "marketing", "priority": 10, "topic": "sale",
    "entry": {"type": "segment", "segment_id": "seg-1", "schedule": {"at": "2030-03-01T09:00:00+01:00"}},
    "steps": [{"id": "mail", "type": "send", "channel": "email",
               "template": {"subject": "Sale, {{ contact.first_name }}", "body": "{{ contact.first_name }}: 20% off"}}],
}
TEMPLATE = {"name": "mortgage offer", "channel": "web", "subject": "For {{ contact.first_name }}",
            "body": "A mortgage in {{ event.city }}", "html": "<b>{{ contact.first_name }}</b>"}


def test_every_endpoint_declares_roles(campaigns):
    assert endpoints_without_roles(campaigns.app) == []


def test_lifecycle_publishes_schedules_and_refuses_wrong_transitions(campaigns, tap):
    campaign_id = activate(campaigns, BROADCAST)
    [upsert] = tap.wait("schedule.recurring.upserted", owner=campaign_id)
    assert upsert["at"] == "2030-03-01T09:00:00+01:00" and upsert["message_type"] == "broadcast.due"
    assert campaigns.post(f"/campaigns/{campaign_id}/activate", role="marketer").status_code == 409
    paused = campaigns.post(f"/campaigns/{campaign_id}/pause", role="marketer")
    assert paused.status_code == 200 and paused.get_json()["status"] == "paused"
    tap.wait("schedule.recurring.removed", schedule_id=upsert["schedule_id"])
    tap.wait("schedule.cancelled", owner=campaign_id)
    assert campaigns.post(f"/campaigns/{campaign_id}/resume", role="marketer").get_json()["status"] == "active"
    tap.wait("schedule.recurring.upserted", 2, owner=campaign_id)
    assert campaigns.delete(f"/campaigns/{campaign_id}", role="marketer").status_code == 409
    archived = campaigns.post(f"/campaigns/{campaign_id}/archive", role="marketer")
    assert archived.get_json()["status"] == "archived" and archived.get_json()["version"] == 1
    assert campaigns.put(f"/campaigns/{campaign_id}", json=BROADCAST, role="marketer").status_code == 409
    assert campaigns.post(f"/campaigns/{campaign_id}/resume", role="marketer").status_code == 409
    draft = campaigns.post("/campaigns", json=BROADCAST, role="marketer").get_json()
    assert draft["status"] == "draft" and draft["version"] is None
    listed = campaigns.get("/campaigns?status=draft", role="marketer").get_json()
    assert draft["campaign_id"] in [c["campaign_id"] for c in listed]
    assert campaigns.delete(f"/campaigns/{draft['campaign_id']}", role="marketer").status_code == 204
    assert campaigns.get(f"/campaigns/{draft['campaign_id']}", role="marketer").status_code == 404


def test_meaning_errors_name_their_paths(campaigns):
    bad = copy.deepcopy(BROADCAST)
    bad["steps"] = [{"id": "a", "type": "send", "channel": "email", "template": {"body": "hi"}, "next": "b"},
                    {"id": "b", "type": "wait", "duration": "1d", "next": "nowhere"},
                    {"id": "c", "type": "send", "channel": "pigeon", "template": "no-such-template"}]
    answer = campaigns.post("/campaigns", json=bad, role="marketer")
    assert answer.status_code == 422
    errors = answer.get_json()["errors"]
    assert "steps[1].next" in errors and "steps[2].channel" in errors and "steps[2].template" in errors
    shape = copy.deepcopy(BROADCAST)
    shape["steps"][0]["priority"] = "high"
    shape["steps"].append({"id": "x", "type": "teleport"})
    answer = campaigns.post("/campaigns", json=shape, role="marketer")
    assert answer.status_code == 422
    assert set(answer.get_json()["errors"]) >= {"steps[0].priority", "steps[1].type"}


def test_templates_are_validated_previewed_and_used_by_steps(campaigns):
    assert campaigns.post("/templates", json={**TEMPLATE, "body": "{{ contact.name"}, role="marketer").status_code == 422
    unknown = campaigns.post("/templates", json={**TEMPLATE, "body": "{{ secret }}"}, role="marketer")
    assert unknown.status_code == 422 and "body" in unknown.get_json()["errors"]
    created = campaigns.post("/templates", json=TEMPLATE, role="marketer")
    assert created.status_code == 201
    template_id = created.get_json()["template_id"]
    sample = {"contact": {"first_name": "<Jane>"}, "event": {"type": "address_changed", "data": {"city": "Delft"}}}
    preview = campaigns.post(f"/templates/{template_id}/preview", json=sample, role="marketer").get_json()
    assert preview["body"] == "A mortgage in Delft" and preview["html"] == "<b>&lt;Jane&gt;</b>"
    missing = campaigns.post(f"/templates/{template_id}/preview", json={"contact": {}}, role="marketer")
    assert missing.status_code == 422
    policy = {"name": "offer", "category": "marketing",
              "entry": {"type": "event", "event_type": "address_changed"},
              "steps": [{"id": "offer", "type": "send", "channel": "web", "template": template_id}]}
    wrong_channel = {**policy, "steps": [{**policy["steps"][0], "channel": "email"}]}
    assert campaigns.post("/campaigns", json=wrong_channel, role="marketer").status_code == 422
    campaign = campaigns.post("/campaigns", json=policy, role="marketer").get_json()
    rendered = campaigns.post(f"/campaigns/{campaign['campaign_id']}/preview", json=sample, role="marketer")
    assert rendered.status_code == 200
    assert rendered.get_json()["steps"][0]["subject"] == "For <Jane>"
    assert campaigns.delete(f"/templates/{template_id}", role="marketer").status_code == 409  # in use
    listed = campaigns.get("/templates?channel=web", role="marketer").get_json()
    assert template_id in [t["template_id"] for t in listed]


def _endpoints(campaign_id: str, template_id: str) -> list[tuple[str, str]]:
    return [("POST", "/campaigns"), ("PUT", f"/campaigns/{campaign_id}"),
            ("POST", f"/campaigns/{campaign_id}/preview"), ("POST", "/templates"),
            ("PUT", f"/templates/{template_id}"), ("POST", f"/templates/{template_id}/preview")]


def test_bad_input_at_every_endpoint_is_a_4xx_problem(campaigns):
    campaign_id = campaigns.post("/campaigns", json=BROADCAST, role="marketer").get_json()["campaign_id"]
    template_id = campaigns.post("/templates", json=TEMPLATE, role="marketer").get_json()["template_id"]
    bodies = [
        ("malformed", {"data": b"{not json", "content_type": "application/json"}),
        ("not an object", {"json": [1, 2, 3]}),
        ("unknown field", {"json": {"surprise": True}}),
        ("wrong types", {"json": {"name": 5, "channel": 7, "contact": "x", "event": 3, "steps": "many",
                                  "category": [], "entry": "now", "body": 1}}),
        ("missing fields", {"json": {}}),
        ("deep nonsense", {"json": {**BROADCAST, "steps": [{"id": "a", "type": "send"}], "entry": {"type": 1}}}),
    ]
    for method, path in _endpoints(campaign_id, template_id):
        for label, kwargs in bodies:
            answer = campaigns.request(method, path, role="marketer", **kwargs)
            assert 400 <= answer.status_code < 500, (method, path, label, answer.status_code, answer.get_data())
            if path.endswith("/preview") and label == "missing fields":
                continue  # a preview with no sample at all is a valid request
            assert answer.mimetype == "application/problem+json", (method, path, label)
    for method, path in [("GET", "/campaigns?limit=0"), ("GET", "/campaigns?status=sleeping"),
                         ("GET", "/campaigns?surprise=1"), ("GET", "/templates?channel=Not%20A%20Channel"),
                         ("GET", "/campaigns/nope"), ("GET", "/campaigns/nope/report"),
                         ("POST", "/campaigns/nope/activate"), ("POST", "/campaigns/x/explode"),
                         ("DELETE", "/templates/nope"), ("POST", "/templates/nope/preview")]:
        answer = campaigns.request(method, path, role="marketer", json={})
        assert 400 <= answer.status_code < 500, (method, path, answer.status_code)
    assert campaigns.get("/campaigns", role=None).status_code == 401
    assert campaigns.get("/campaigns", role="agent").status_code == 403
