"""One-click unsubscribe through the running system: the header from a received email, POST, gate.

A marketing campaign sends email → wait 3 s → email. The first email's List-Unsubscribe link is
opened (GET: nothing happens) and then POSTed as a mailbox provider does (RFC 8058, no API key); the
second email is suppressed by the channels gate. A transactional email to the same contact still
goes out and carries no unsubscribe header.
"""

from __future__ import annotations

import uuid
from email import message_from_bytes, policy

import requests

from tests.e2e.conftest import E2E
from tests.support import wait_for


def _headers(envelope) -> dict[str, str | None]:
    message = message_from_bytes(envelope.original_content, policy=policy.default)
    return {name: (str(message[name]) if message[name] is not None else None)
            for name in ("Subject", "List-Unsubscribe", "List-Unsubscribe-Post")}


def test_one_click_from_a_received_email_suppresses_the_next_marketing_email(e2e: E2E) -> None:
    e2e.set_policy()
    contact = e2e.contact()
    tag = uuid.uuid4().hex[:8]
    campaign = e2e.campaign({"name": f"one-click {tag}", "category": "marketing",
                             "entry": {"type": "event", "event_type": f"joined_oneclick_{tag}"},
                             "steps": [{"id": "s0", "type": "send", "channel": "email",
                                        "template": {"subject": "Welcome", "body": "Hello"}, "next": "s1"},
                                       {"id": "s1", "type": "wait", "duration": "3s", "next": "s2"},
                                       {"id": "s2", "type": "send", "channel": "email",
                                        "template": {"subject": "Day two", "body": "Again"}}]})
    e2e.event(contact["id"], f"joined_oneclick_{tag}")
    [first] = wait_for(lambda: e2e.smtp.to(contact["email"]), timeout=20, interval=0.1, message="the first email")
    headers = _headers(first)
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = headers["List-Unsubscribe"].strip("<>")
    assert link.startswith(e2e.system.url("contacts", "/u/")), link

    page = requests.get(link, timeout=10)  # a link scanner, or the reader opening the link
    assert page.status_code == 200 and "Unsubscribe" in page.text
    assert e2e.call("GET", "contacts", f"/contacts/{contact['id']}/suppressions", role="marketer") == []
    answer = requests.post(link, data={"List-Unsubscribe": "One-Click"}, timeout=10)  # the mailbox provider
    assert answer.status_code == 200, answer.text
    [row] = e2e.call("GET", "contacts", f"/contacts/{contact['id']}/suppressions", role="marketer")
    assert (row["scope"], row["value"], row["source"]) == ("channel", "email", "one_click")

    decided = e2e.wait_decisions(2, campaign_id=campaign["id"])
    by_step = {d["step_id"]: d for d in decided}
    assert by_step["s0"]["outcome"] == "send"
    assert by_step["s2"]["outcome"] == "suppressed", by_step["s2"]
    assert "unsubscribed" in f"{by_step['s2']['reason']} {by_step['s2']['detail']}", by_step["s2"]
    assert len(e2e.smtp.to(contact["email"])) == 1

    receipt = e2e.campaign({"name": f"receipt {tag}", "category": "transactional",
                            "entry": {"type": "event", "event_type": f"paid_{tag}"},
                            "steps": [{"id": "s0", "type": "send", "channel": "email",
                                       "template": {"subject": "Your receipt", "body": "Thanks"}}]})
    e2e.event(contact["id"], f"paid_{tag}")
    wait_for(lambda: len(e2e.smtp.to(contact["email"])) == 2, timeout=20, interval=0.1, message="the receipt")
    headers = _headers(e2e.smtp.to(contact["email"])[1])
    assert headers["Subject"] == "Your receipt", receipt
    assert headers["List-Unsubscribe"] is None and headers["List-Unsubscribe-Post"] is None
