"""The global control group through the HTTP API: set by an operator, applied by the gate to marketing only."""

from __future__ import annotations

import pytest

from shared.control_group import in_control_group
from tests.integration.channels.conftest import request_message
from tests.support import wait_for

pytestmark = pytest.mark.integration

OPEN = {"caps": [], "min_marketing_gap_seconds": None, "quiet_hours": {}, "opt_in_channels": [],
        "control_group": None, "capacity": []}
GROUP = {"percent": 50, "salt": "it-2026"}


def _first(member: bool) -> str:
    return next(f"k{i}" for i in range(1000) if in_control_group(f"k{i}", GROUP["salt"], GROUP["percent"]) == member)


def _decisions(env, contact_id: str) -> list[dict]:
    return env.harness.get(f"/decisions?contact_id={contact_id}").get_json()


def test_control_contacts_get_no_marketing_but_their_service_messages(channels_env):
    env = channels_env(adapters={"web": {"adapter": "web_offers"}}, policy=OPEN)
    refused = env.harness.patch("/policy", json={"control_group": {"percent": 60, "salt": "x"}})
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert "control_group" in refused.get_json()["errors"]
    answer = env.harness.patch("/policy", json={"control_group": GROUP})
    assert answer.status_code == 200, answer.get_json()
    assert env.harness.get("/policy").get_json()["control_group"] == GROUP

    control, treated = _first(True), _first(False)
    env.publish([request_message("promo-c", control, "web", campaign_id="spring"),
                 request_message("receipt-c", control, "web", category="transactional"),
                 request_message("promo-t", treated, "web", campaign_id="spring")])
    wait_for(lambda: len(_decisions(env, control)) == 2 and _decisions(env, treated), message="all decided")

    by_request = {d["request_id"]: d for d in _decisions(env, control) + _decisions(env, treated)}
    assert (by_request["promo-c"]["outcome"], by_request["promo-c"]["reason"]) == ("suppressed", "control_group")
    assert by_request["receipt-c"]["outcome"] == "send"
    assert by_request["promo-t"]["outcome"] == "send"
    offers = wait_for(lambda: env.harness.get(f"/contacts/{control}/offers", role="channel_owner").get_json(),
                      message="the transactional offer delivered")
    assert [o["request_id"] for o in offers] == ["receipt-c"]
