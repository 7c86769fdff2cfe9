"""The channels audit trail: policy changes with their before/after, and call tasks and web offers acted on
through the API, with who did them (agents' notes stay out of the trail)."""

from __future__ import annotations

import pytest

from services.channels.adapters.base import AdapterContext, Recipient, RenderedMessage
from services.channels.adapters.internal import CallCenterAdapter
from services.channels.service import build_definition
from tests.support import ServiceHarness, unique_namespace

pytestmark = pytest.mark.integration
CAP = {"id": "weekly", "limit": 3, "window_seconds": 604800, "scope": "all", "scope_value": None}
POLICY = {"caps": [CAP], "min_marketing_gap_seconds": 3600, "opt_in_channels": ["email"], "quiet_hours": {},
          "control_group": None, "capacity": []}


@pytest.fixture
def api(auth_database_url, api_keys, amqp_url):
    harness = ServiceHarness(build_definition(), unique_namespace("tpchaudit"), auth_database_url, api_keys,
                             amqp_url=amqp_url, database_name="channels_audit")
    yield harness
    harness.close()


def _trail(api, **query) -> list[dict]:
    answer = api.get("/audit", query_string=query)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["items"][::-1]


def test_policy_changes_are_recorded_with_what_changed(api):
    assert api.put("/policy", json=POLICY).status_code == 200
    assert api.patch("/policy", json={"min_marketing_gap_seconds": 7200}).status_code == 200
    assert api.put("/policy", json={**POLICY, "caps": []}).status_code == 200
    replaced, patched, emptied = _trail(api, entity_type="policy")
    assert (replaced["action"], patched["action"]) == ("policy.replace", "policy.patch")
    assert {e["actor"]["role"] for e in (replaced, patched, emptied)} == {"operator"}
    assert patched["details"]["before"]["min_marketing_gap_seconds"] == 3600
    assert patched["details"]["after"]["min_marketing_gap_seconds"] == 7200
    assert "caps" not in patched["details"]["after"]  # unchanged
    assert emptied["details"]["before"]["caps"] == [CAP] and emptied["details"]["after"]["caps"] == []
    # a refused change leaves no record
    assert api.put("/policy", json={**POLICY, "caps": [{**CAP, "limit": -1}]}).status_code == 422
    assert len(_trail(api, entity_type="policy")) == 3


def test_tasks_claimed_and_completed_are_recorded_without_the_notes(api):
    adapter = CallCenterAdapter("call", {}, AdapterContext(api.settings, api.engine))
    message = RenderedMessage("r-audit", "c-audit", "call", "service", {"script": "call"},
                              Recipient(phone="+15550001", first_name="Al"), campaign_id="camp", priority=1)
    assert adapter.send(message).status == "sent"
    [task] = api.get("/tasks", role="agent").get_json()
    assert api.post(f"/tasks/{task['id']}/claim", role="agent").status_code == 200
    done = api.post(f"/tasks/{task['id']}/complete", role="agent",
                    json={"outcome": "reached", "notes": "said her daughter is ill"})
    assert done.status_code == 200, done.get_json()
    claimed, completed = _trail(api, entity_type="task", entity_id=str(task["id"]))
    assert (claimed["action"], completed["action"]) == ("task.claim", "task.complete")
    assert completed["actor"]["name"] == "test-agent" and completed["details"]["after"]["outcome"] == "reached"
    assert "daughter" not in str(completed) and "notes" not in completed["details"]["after"]
    assert api.post(f"/tasks/{task['id']}/claim", role="agent").status_code == 409  # refused: no record
    assert len(_trail(api, entity_type="task")) == 2


def test_only_operators_read_the_trail(api):
    assert api.get("/audit", role=None).status_code == 401
    assert api.get("/audit", role="channel_owner").status_code == 403
    assert api.get("/audit", query_string={"entity_type": "x" * 33}).status_code == 422
