"""A proof send end to end: the running system, a real SMTP server. The proof arrives at the seed address
marked as a proof, and nothing of it enters the contact's decisions, ledger or the campaign's report."""

from __future__ import annotations

import uuid
from email import message_from_bytes

from tests.e2e.conftest import E2E
from tests.support import wait_for


def test_a_proof_email_reaches_the_seed_marked_and_leaves_no_trace_on_the_contact(e2e: E2E) -> None:
    e2e.set_policy()
    contact = e2e.contact(first_name="Prue")
    seed = f"seed-{uuid.uuid4().hex[:8]}@example.com"
    created = e2e.call("POST", "campaigns", "/campaigns", role="marketer", json={
        "name": f"e2e proof {uuid.uuid4().hex[:6]}", "category": "marketing",
        "entry": {"type": "event", "event_type": "proof_check"}, "proof_recipients": {"email": [seed]},
        "steps": [{"id": "mail", "type": "send", "channel": "email",
                   "template": {"subject": "Offer for {{ contact.first_name }}", "body": "Hi {{ contact.first_name }}"}}]})
    campaign_id = created["campaign_id"]

    def proof() -> dict | None:  # campaigns learns of the contact from its events; until then it is unknown
        answer = e2e.sessions["marketer"].post(e2e.system.url("campaigns", f"/campaigns/{campaign_id}/proof"),
                                               json={"contact_id": contact["id"]}, timeout=60)
        assert answer.status_code in (200, 404), answer.text
        return answer.json() if answer.status_code == 200 else None

    answer = wait_for(proof, timeout=30, interval=0.3, message="campaigns knows the contact")
    [step] = answer["steps"]
    assert [(d["to"], d["status"]) for d in step["deliveries"]] == [(seed, "sent")]
    [envelope] = e2e.smtp.to(seed)
    mail = message_from_bytes(envelope.content)
    assert mail["Subject"] == "[PROOF] Offer for Prue" and mail["X-Touchpoint-Proof"] == "1"
    assert mail["List-Unsubscribe"] is None

    assert e2e.smtp.to(contact["email"]) == []
    assert e2e.decisions(contact_id=contact["id"]) == []
    assert e2e.decisions(campaign_id=campaign_id) == []
    report = e2e.call("GET", "campaigns", f"/campaigns/{campaign_id}/report", role="marketer")
    assert all(counts.get("requested", 0) == 0 for counts in report["steps"].values()), report["steps"]
    assert not any(report["enrollments"].values()), report["enrollments"]
