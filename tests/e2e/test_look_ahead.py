"""The look-ahead rule end to end (issue 13 point 2): a drip step waiting in the scheduler holds the contact's
last cap slot against a lower-priority message, until it is sent or its enrollment ends.

Through the public HTTP APIs of the four running services: campaigns announces the planned step
(`send.planned`), channels keeps it and the gate (and the dry run, the same `decide`) reads it.
"""

from __future__ import annotations

from tests.e2e.conftest import E2E
from tests.e2e.test_scenarios import WEEK, chain, name, send
from tests.support import wait_for

CAP = {"id": "e2e-one-a-week", "limit": 1, "window_seconds": WEEK, "scope": "category", "scope_value": "marketing"}


def _drip(e2e: E2E, label: str, wait: str) -> dict:
    """A high-priority drip: wait, then one email; an `exit_<label>` event ends it."""
    return e2e.campaign({"name": name(label), "category": "marketing", "priority": 80,
                         "entry": {"type": "event", "event_type": f"start_{label}"},
                         "exit_goals": [{"event_type": f"exit_{label}"}],
                         "steps": chain({"type": "wait", "duration": wait}, send("email", "Your statement"))})


def _low(e2e: E2E, label: str) -> dict:
    """A low-priority marketing email to whoever gets `now_<label>`."""
    return e2e.campaign({"name": name(label), "category": "marketing", "priority": 10,
                         "entry": {"type": "event", "event_type": f"now_{label}"},
                         "steps": chain(send("email", "Spring offer"))})


def _dry_run(e2e: E2E, contact_id: str) -> dict:
    return e2e.call("POST", "channels", "/dry-run", json={"contact_id": contact_id, "channel": "email",
                                                          "category": "marketing", "priority": 10})


def test_a_low_priority_message_yields_to_a_planned_drip_step_which_is_delivered_when_due(e2e: E2E) -> None:
    e2e.set_policy(caps=[CAP])
    contact = e2e.contact()
    drip, low = _drip(e2e, "la_kept", "8s"), _low(e2e, "la_kept")
    e2e.event(contact["id"], "start_la_kept")
    wait_for(lambda: _dry_run(e2e, contact["id"])["outcome"] == "capped", timeout=20, interval=0.2,
             message="channels to know the planned drip step")

    e2e.event(contact["id"], "now_la_kept")
    (capped,) = e2e.wait_decisions(1, campaign_id=low["id"])
    assert (capped["outcome"], capped["reason"], capped["rule_id"]) == ("capped", "look_ahead:e2e-one-a-week",
                                                                        "e2e-one-a-week"), capped
    assert capped["yielded_to"].startswith("plan:") and capped["yielded_to"] in capped["detail"]

    (sent,) = e2e.wait_decisions(1, timeout=30, campaign_id=drip["id"])
    assert sent["outcome"] == "send", sent
    wait_for(lambda: len(e2e.smtp.to(contact["email"])) == 1, timeout=20, interval=0.2, message="the drip email")
    assert "Your statement" in str(e2e.smtp.to(contact["email"])[0].content)


def test_when_the_planned_step_is_cancelled_first_the_low_priority_message_is_sent(e2e: E2E) -> None:
    e2e.set_policy(caps=[CAP])
    contact = e2e.contact()
    drip, low = _drip(e2e, "la_gone", "1h"), _low(e2e, "la_gone")
    e2e.event(contact["id"], "start_la_gone")
    wait_for(lambda: _dry_run(e2e, contact["id"])["outcome"] == "capped", timeout=20, interval=0.2,
             message="channels to know the planned drip step")
    e2e.event(contact["id"], "exit_la_gone")  # the enrollment exits: its planned step will not come
    wait_for(lambda: _dry_run(e2e, contact["id"])["outcome"] == "send", timeout=20, interval=0.2,
             message="channels to forget the cancelled plan")

    e2e.event(contact["id"], "now_la_gone")
    (sent,) = e2e.wait_decisions(1, campaign_id=low["id"])
    assert sent["outcome"] == "send", sent
    wait_for(lambda: len(e2e.smtp.to(contact["email"])) == 1, timeout=20, interval=0.2, message="the low email")
    assert e2e.decisions(campaign_id=drip["id"]) == []


def test_pausing_the_drip_withdraws_its_plans_and_resuming_announces_them_again(e2e: E2E) -> None:
    e2e.set_policy(caps=[CAP])
    contact = e2e.contact()
    drip = _drip(e2e, "la_paused", "1h")
    e2e.event(contact["id"], "start_la_paused")
    wait_for(lambda: _dry_run(e2e, contact["id"])["outcome"] == "capped", timeout=20, interval=0.2,
             message="channels to know the planned drip step")
    e2e.call("POST", "campaigns", f"/campaigns/{drip['id']}/pause", role="marketer")
    wait_for(lambda: _dry_run(e2e, contact["id"])["outcome"] == "send", timeout=20, interval=0.2,
             message="the paused campaign's plans withdrawn")
    e2e.call("POST", "campaigns", f"/campaigns/{drip['id']}/resume", role="marketer")
    answer = wait_for(lambda: (lambda a: a if a["outcome"] == "capped" else None)(_dry_run(e2e, contact["id"])),
                      timeout=20, interval=0.2, message="the resumed campaign's plans announced again")
    assert answer["reason"] == "look_ahead:e2e-one-a-week" and answer["yielded_to"].startswith("plan:")
