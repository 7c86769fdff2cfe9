"""Bounces, complaints and STOP close the loop, through the running system's signed provider webhooks.

Each test sends a first message, reports what the provider saw through the signed webhook, then
triggers the same campaign again (re-entry `always`) only after the webhook answered, so the second
decision is made after the suppression whatever the load: no test races a wait step. Negative checks
never sleep: a recorded `suppressed` decision means no delivery job was created, so nothing can
reach the SMTP server or the SMS gateway afterwards.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests

from services.channels.signing import SIGNATURE_HEADER, sign
from tests.e2e.conftest import E2E
from tests.e2e.test_scenarios import send
from tests.support import wait_for


def _webhook(e2e: E2E, path: str, body: dict[str, Any], secret: str | None = "") -> requests.Response:
    """POST a provider callback; signed with the system's WEBHOOK_SECRET unless another (or None: unsigned)."""
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SIGNATURE_HEADER] = sign(secret or e2e.system.env["WEBHOOK_SECRET"], raw)
    return requests.post(e2e.system.url("channels", path), data=raw, headers=headers, timeout=15)


def _repeating(e2e: E2E, channel: str, category: str = "marketing") -> tuple[dict, str]:
    """An active one-step campaign any contact may enter again and again; returns it and its event type."""
    trigger = f"loop_{uuid.uuid4().hex[:8]}"
    campaign = e2e.campaign({"name": f"e2e loop {trigger}", "category": category,
                             "entry": {"type": "event", "event_type": trigger},
                             "steps": [{"id": "s0", **send(channel, f"News by {channel}")}],
                             "reentry": {"policy": "always"}})
    return campaign, trigger


def _first_sent(e2e: E2E, campaign: dict, contact: dict, trigger: str) -> dict:
    """Trigger the campaign once and wait until its message was handed to the provider; the decision."""
    e2e.event(contact["id"], trigger)
    return wait_for(lambda: next((d for d in e2e.decisions(campaign_id=campaign["id"], contact_id=contact["id"])
                                  if (d["delivery"] or {}).get("state") == "sent"), None),
                    timeout=30, interval=0.2, message="the first message to be sent")


def _second_decision(e2e: E2E, campaign: dict, contact: dict, trigger: str) -> dict:
    """Trigger the campaign again; the newer of its two decisions."""
    e2e.event(contact["id"], trigger)
    decided = e2e.wait_decisions(2, timeout=30, campaign_id=campaign["id"], contact_id=contact["id"])
    return max(decided, key=lambda d: d["decided_at"])


def _contacts_suppressions(e2e: E2E, contact: dict) -> list[tuple[str, str, str]]:
    """The suppressions the contacts service (the single point of truth) holds: (scope, value, reason)."""
    rows = e2e.call("GET", "contacts", f"/contacts/{contact['id']}/suppressions", role="marketer")
    return sorted((r["scope"], r["value"], r["reason"]) for r in rows)


@pytest.mark.parametrize(("event", "reason"), [({"type": "bounce", "bounce_type": "hard"}, "bounced"),
                                               ({"type": "complaint"}, "complained")])
def test_a_hard_bounce_or_complaint_suppresses_the_next_email(e2e: E2E, event: dict, reason: str) -> None:
    """Email sent → signed bounce/complaint for its request → contacts records it → the next email is suppressed."""
    e2e.set_policy()
    contact = e2e.contact()
    campaign, trigger = _repeating(e2e, "email")
    first = _first_sent(e2e, campaign, contact, trigger)
    wait_for(lambda: e2e.smtp.to(contact["email"]), timeout=20, interval=0.1, message="the first email")

    answer = _webhook(e2e, "/webhooks/email", {**event, "request_id": first["request_id"], "detail": "550 5.1.1"})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"status": "accepted", "action": "suppressed", "suppressed": [contact["id"]],
                             "reason": reason}
    # Channels published it; contacts, the single point of truth, now holds the suppression.
    wait_for(lambda: _contacts_suppressions(e2e, contact) == [("channel", "email", reason)], timeout=20,
             interval=0.2, message=f"contacts to record the {reason} suppression")
    [row] = e2e.call("GET", "contacts", f"/contacts/{contact['id']}/suppressions", role="marketer")
    assert row["source"] == "interaction:channels", row

    second = _second_decision(e2e, campaign, contact, trigger)
    assert second["outcome"] == "suppressed", second
    assert reason in f"{second['reason']} {second['detail']}", second
    assert second["delivery"] is None, second
    assert len(e2e.smtp.to(contact["email"])) == 1
    # The bounced message itself is on the contact's timeline as its outcome.
    timeline = wait_for(lambda: [e for e in e2e.call("GET", "contacts", f"/contacts/{contact['id']}/timeline",
                                                     role="marketer", params={"limit": 100})["items"]
                                 if reason in json.dumps(e)] or None,
                        timeout=20, interval=0.2, message=f"the {reason} outcome on the timeline")
    assert timeline


def test_an_inbound_sms_stop_suppresses_the_next_sms(e2e: E2E) -> None:
    """SMS sent → the contact answers "Stop" through the signed inbound webhook → the next SMS is suppressed."""
    e2e.set_policy()
    contact = e2e.contact()
    campaign, trigger = _repeating(e2e, "sms")
    _first_sent(e2e, campaign, contact, trigger)
    wait_for(lambda: e2e.gateway.to(contact["phone"]), timeout=20, interval=0.1, message="the first SMS")

    answer = _webhook(e2e, "/webhooks/sms/inbound", {"from": contact["phone"], "text": " Stop "})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"status": "accepted", "action": "suppressed", "suppressed": [contact["id"]]}
    wait_for(lambda: _contacts_suppressions(e2e, contact) == [("channel", "sms", "stop")], timeout=20,
             interval=0.2, message="contacts to record the STOP")

    second = _second_decision(e2e, campaign, contact, trigger)
    assert second["outcome"] == "suppressed" and "stop" in f"{second['reason']} {second['detail']}", second
    assert len(e2e.gateway.to(contact["phone"])) == 1


def test_a_soft_bounce_suppresses_nothing_and_the_next_email_goes_out(e2e: E2E) -> None:
    """A signed soft bounce is noted on the delivery only; the next email is delivered."""
    e2e.set_policy()
    contact = e2e.contact()
    campaign, trigger = _repeating(e2e, "email")
    first = _first_sent(e2e, campaign, contact, trigger)

    answer = _webhook(e2e, "/webhooks/email", {"type": "bounce", "bounce_type": "soft",
                                               "request_id": first["request_id"], "detail": "452 mailbox full"})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"status": "accepted", "action": "noted", "suppressed": [], "reason": None}
    noted = e2e.decisions(request_id=first["request_id"])[0]
    assert noted["delivery"]["detail"] == "soft bounce (452 mailbox full)", noted

    second = _second_decision(e2e, campaign, contact, trigger)
    assert second["outcome"] == "send", second
    wait_for(lambda: len(e2e.smtp.to(contact["email"])) == 2, timeout=20, interval=0.1, message="the second email")
    assert _contacts_suppressions(e2e, contact) == []


def test_a_temporary_smtp_refusal_is_retried_by_the_delivery_worker(e2e: E2E) -> None:
    """The SMTP server answers 451 to the first RCPT TO: the delivery worker retries and the email arrives once."""
    e2e.set_policy()
    contact = e2e.contact()
    e2e.smtp.refuse_once(contact["email"], "451 4.7.1 Greylisted, try again later")
    campaign, trigger = _repeating(e2e, "email", category="transactional")
    sent = _first_sent(e2e, campaign, contact, trigger)
    assert sent["delivery"]["attempts"] == 2, sent  # refused once, accepted on the retry
    assert len(e2e.smtp.to(contact["email"])) == 1
    assert e2e.smtp.refusals == {}
    assert _contacts_suppressions(e2e, contact) == []


@pytest.mark.parametrize("secret", [None, "not-the-secret"], ids=["unsigned", "badly-signed"])
def test_an_unsigned_or_badly_signed_webhook_is_refused_and_changes_nothing(e2e: E2E, secret: str | None) -> None:
    """401 problem bodies; no suppression anywhere; the gate still sends."""
    e2e.set_policy()
    contact = e2e.contact()
    for path, body in (("/webhooks/email", {"type": "complaint", "email": contact["email"]}),
                       ("/webhooks/sms/inbound", {"from": contact["phone"], "text": "STOP"})):
        answer = _webhook(e2e, path, body, secret=secret)
        assert answer.status_code == 401, answer.text
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        assert SIGNATURE_HEADER in answer.json()["detail"]

    campaign, trigger = _repeating(e2e, "email")
    _first_sent(e2e, campaign, contact, trigger)
    wait_for(lambda: e2e.smtp.to(contact["email"]), timeout=20, interval=0.1, message="the email")
    assert _contacts_suppressions(e2e, contact) == []
    for channel in ("email", "sms"):
        dry = e2e.call("POST", "channels", "/dry-run", json={"contact_id": contact["id"], "channel": channel,
                                                             "category": "marketing"})
        assert dry["outcome"] == "send", dry
