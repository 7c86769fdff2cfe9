"""The scheduler's audit trail: pausing and resuming an owner are recorded with who did it and why."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_pause_and_resume_are_recorded_with_the_reason(make_harness):
    harness = make_harness()
    assert harness.post("/owners/camp-1/pause", json={"reason": "complaint spike"}).status_code == 200
    assert harness.post("/owners/camp-1/resume", json={}).status_code == 200
    answer = harness.get("/audit", query_string={"entity_type": "owner", "entity_id": "camp-1"})
    resumed, paused = answer.get_json()["items"]
    assert (paused["action"], resumed["action"]) == ("owner.pause", "owner.resume")
    assert paused["details"]["after"]["reason"] == "complaint spike" and paused["details"]["after"]["paused"]
    assert paused["actor"]["role"] == "operator"
    assert harness.get("/audit", role="marketer").status_code == 403
