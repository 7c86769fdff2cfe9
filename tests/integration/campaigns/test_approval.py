"""Four-eyes approval through the campaigns API on its real database (`requires_approval`)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def _definition(**extra) -> dict:
    return {"name": "Needs a second look", "category": "marketing", "entry": {"type": "event", "event_type": "signup"},
            "steps": [{"id": "hello", "type": "send", "channel": "email", "template": {"subject": "Hi", "body": "Hi"}}],
            "requires_approval": True, **extra}


def test_activation_needs_a_current_approval_by_a_second_key(campaigns) -> None:
    created = campaigns.post("/campaigns", json=_definition(), role="marketer").get_json()
    campaign_id = created["campaign_id"]
    assert (created["revision"], created["requires_approval"], created["approval"]) == (1, True, None)

    refused = campaigns.post(f"/campaigns/{campaign_id}/activate", role="marketer")
    assert refused.status_code == 409 and "approval" in refused.get_json()["errors"]
    own = campaigns.post(f"/campaigns/{campaign_id}/approval", json={}, role="marketer")
    assert own.status_code == 409 and "second key" in own.get_json()["detail"]
    stale = campaigns.post(f"/campaigns/{campaign_id}/approval", json={"revision": 7}, role="operator")
    assert stale.status_code == 409

    approved = campaigns.post(f"/campaigns/{campaign_id}/approval", json={"revision": 1}, role="operator")
    assert approved.status_code == 200, approved.get_json()
    approval = approved.get_json()["approval"]
    assert approval["revision"] == 1 and approval["current"] and approval["approved_by"] != created["changed_by"]
    assert approval["approved_at"]

    # A change voids it; saving the same definition again is no change.
    same = campaigns.put(f"/campaigns/{campaign_id}", json=_definition(), role="marketer").get_json()
    assert same["revision"] == 1 and same["approval"]["current"]
    changed = campaigns.put(f"/campaigns/{campaign_id}", json=_definition(name="Changed", requires_approval=False),
                            role="marketer").get_json()
    assert changed["revision"] == 2 and not changed["approval"]["current"]
    assert changed["requires_approval"]  # taking the setting out does not skip the second key
    assert campaigns.post(f"/campaigns/{campaign_id}/activate", role="marketer").status_code == 409

    assert campaigns.post(f"/campaigns/{campaign_id}/approval", json={}, role="operator").status_code == 200
    active = campaigns.post(f"/campaigns/{campaign_id}/activate", role="marketer")
    assert active.status_code == 200 and active.get_json()["status"] == "active"
    # While it runs it cannot change unapproved; paused, it can, and resuming needs the new revision approved.
    assert campaigns.put(f"/campaigns/{campaign_id}", json=_definition(name="Live edit"), role="marketer").status_code == 409
    assert campaigns.post(f"/campaigns/{campaign_id}/pause", role="marketer").status_code == 200
    assert campaigns.put(f"/campaigns/{campaign_id}", json=_definition(name="Paused edit"), role="marketer").status_code == 200
    assert campaigns.post(f"/campaigns/{campaign_id}/resume", role="marketer").status_code == 409
    assert campaigns.post(f"/campaigns/{campaign_id}/approval", json={}, role="operator").status_code == 200
    assert campaigns.post(f"/campaigns/{campaign_id}/resume", role="marketer").status_code == 200
    shown = campaigns.get(f"/campaigns/{campaign_id}", role="marketer").get_json()
    assert (shown["revision"], shown["approval"]["revision"], shown["approval"]["current"]) == (3, 3, True)


def test_without_the_setting_nothing_changes_and_bad_input_is_a_problem(campaigns) -> None:
    campaign_id = campaigns.post("/campaigns", json=_definition(requires_approval=False),
                                 role="marketer").get_json()["campaign_id"]
    assert campaigns.post(f"/campaigns/{campaign_id}/activate", role="marketer").status_code == 200
    assert campaigns.post(f"/campaigns/{campaign_id}/approval", json={"revision": "one"},
                          role="operator").status_code == 422
    assert campaigns.post("/campaigns/nope/approval", json={}, role="operator").status_code == 404
    assert campaigns.post(f"/campaigns/{campaign_id}/approval", json={}, role="agent").status_code == 403
