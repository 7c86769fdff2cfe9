"""`POST /campaigns/{id}/proof` through the real campaigns and channels services: channels served on loopback
with a real SMTP server and the stand-in SMS gateway behind its adapters."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text

from services.campaigns.service import DEFINITION as CAMPAIGNS
from services.campaigns.unit_of_work import CampaignsUnitOfWorkFactory
from services.channels.service import DEFINITION as CHANNELS
from tests.support import ServiceHarness, SmsGateway, SmtpSink, served, unique_namespace
from tests.system import free_port
from tools.cli import main as cli_main

pytestmark = pytest.mark.integration
SEEDS = {"email": ["qa@example.com", "Boss@Example.com"], "sms": ["+43 664 1234567"]}
STEPS = [{"id": "mail", "type": "send", "channel": "email", "next": "text",
          "template": {"subject": "Rates for {{ contact.first_name }}", "body": "Hello {{ contact.first_name }}"}},
         {"id": "text", "type": "send", "channel": "sms", "next": "ring", "template": {"body": "Hi {{ contact.first_name }}"}},
         {"id": "ring", "type": "send", "channel": "call", "template": {"body": "Call {{ contact.first_name }}"}}]


@pytest.fixture(scope="module")
def system(broker_namespace, auth_database_url, api_keys):
    """Channels (SMTP + SMS adapters) served on loopback; campaigns in-process, configured with its URL."""
    sink, gateway = SmtpSink(), SmsGateway()
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    adapters = {"email": {"adapter": "smtp", "host": "127.0.0.1", "port": smtp.port, "sender": "news@tp.test"},
                "sms": {"adapter": "sms_gateway", "url": gateway.url}, "call": {"adapter": "call_center"}}
    channels = ServiceHarness(CHANNELS, unique_namespace("tppfc"), auth_database_url, api_keys,
                              database_name="pf_channels", extra_env={"adapters": json.dumps(adapters)})
    with served(channels.app) as channels_url:
        campaigns = ServiceHarness(CAMPAIGNS, broker_namespace, auth_database_url, api_keys,
                                   database_name="pf_campaigns",
                                   extra_env={"channels_url": channels_url, "channels_api_key": api_keys["marketer"]})
        yield campaigns, channels, sink, gateway
        campaigns.close()
    channels.close()
    smtp.stop()
    gateway.close()


def _campaign(campaigns, **extra) -> str:
    body = {"name": "Proofed", "category": "marketing", "entry": {"type": "event", "event_type": "signup"},
            "steps": STEPS, **extra}
    answer = campaigns.post("/campaigns", json=body, role="marketer")
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["campaign_id"]


def _counts(engine, tables) -> list[int]:
    with engine.connect() as conn:
        return [conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in tables]  # noqa: S608


def test_a_proof_reaches_the_seeds_marked_and_touches_nothing_of_the_contact(system) -> None:
    campaigns, channels, sink, gateway = system
    campaign_id = _campaign(campaigns, proof_recipients=SEEDS)
    with CampaignsUnitOfWorkFactory(campaigns.engine)() as uow:  # campaigns' copy of a contact, as its worker keeps it
        uow.contacts.upsert({"contact_id": "c-proof", "first_name": "Ada", "email": "ada@example.com",
                             "attributes": {}, "updated_at": datetime.now(UTC)})
    channel_tables = ("touches", "decisions", "deliveries", "capacity_counters", "call_tasks", "outbox")
    campaign_tables = ("enrollments", "step_sends", "send_outcomes", "outbox")
    before = _counts(channels.engine, channel_tables), _counts(campaigns.engine, campaign_tables)

    answer = campaigns.post(f"/campaigns/{campaign_id}/proof", json={"contact_id": "c-proof"}, role="marketer")
    assert answer.status_code == 200, answer.get_json()
    steps = {s["step_id"]: s for s in answer.get_json()["steps"]}
    assert [(d["to"], d["status"]) for d in steps["mail"]["deliveries"]] == [("qa@example.com", "sent"),
                                                                             ("Boss@example.com", "sent")]
    assert [(d["to"], d["status"]) for d in steps["text"]["deliveries"]] == [("+436641234567", "sent")]
    assert steps["ring"]["deliveries"] == [] and "no proof recipient" in steps["ring"]["skipped"]

    assert sorted(r for e in sink.envelopes for r in e.rcpt_tos) == ["Boss@example.com", "qa@example.com"]
    mail = message_from_bytes(sink.envelopes[0].content)
    assert mail["Subject"] == "[PROOF] Rates for Ada" and mail["X-Touchpoint-Proof"] == "1"
    assert mail["List-Unsubscribe"] is None
    [(_, raw)] = gateway.requests
    assert json.loads(raw)["text"] == "[PROOF] Hi Ada" and json.loads(raw)["to"] == "+436641234567"
    after = _counts(channels.engine, channel_tables), _counts(campaigns.engine, campaign_tables)
    assert after == before
    # Both services keep who sent which proof to whom in their audit trail.
    [sent] = campaigns.get("/audit?action=campaign.proof", role="operator").get_json()["items"]
    assert sent["entity_id"] == campaign_id and sent["actor"]["role"] == "marketer"
    seen = channels.get("/audit?action=proof.send", role="operator").get_json()["items"]
    assert sorted(e["details"]["after"]["channel"] for e in seen) == ["email", "sms"]


def test_bad_proof_requests_are_problems_naming_the_field(system) -> None:
    campaigns, *_ = system
    bare = _campaign(campaigns)
    refused = campaigns.post(f"/campaigns/{bare}/proof", json={}, role="marketer")
    assert refused.status_code == 409 and "proof_recipients" in refused.get_json()["errors"]
    seeded = _campaign(campaigns, proof_recipients=SEEDS)
    assert campaigns.post(f"/campaigns/{seeded}/proof", json={"contact_id": "ghost"}, role="marketer").status_code == 404
    both = campaigns.post(f"/campaigns/{seeded}/proof", json={"contact_id": "x", "contact": {}}, role="marketer")
    assert both.status_code == 422 and "contact_id" in both.get_json()["errors"]
    assert campaigns.post("/campaigns/nope/proof", json={}, role="marketer").status_code == 404
    assert campaigns.post(f"/campaigns/{seeded}/proof", json={}, role="agent").status_code == 403
    wrong_seed = campaigns.post("/campaigns", role="marketer", json={
        "name": "x", "category": "marketing", "entry": {"type": "event", "event_type": "signup"}, "steps": STEPS,
        "proof_recipients": {"sms": ["0664 123"], "fax": ["a@example.com"]}})
    assert wrong_seed.status_code == 422
    assert set(wrong_seed.get_json()["errors"]) == {"proof_recipients.sms[0]", "proof_recipients.fax"}


def test_the_cli_sends_a_proof_and_a_second_key_approves(system, monkeypatch, capsys) -> None:
    campaigns, _, sink, _ = system
    campaign_id = _campaign(campaigns, proof_recipients={"email": ["cli@example.com"]}, requires_approval=True)
    with served(campaigns.app) as url:
        monkeypatch.setenv("TOUCHPOINT_CAMPAIGNS_URL", url)
        monkeypatch.setenv("TOUCHPOINT_API_KEY", campaigns.api_keys["marketer"])
        assert cli_main(["campaign", "proof", campaign_id, "--step", "mail"]) == 0
        out = capsys.readouterr().out
        assert "rendered for the sample contact" in out and "cli@example.com" in out and "sent" in out
        assert [e for e in sink.envelopes if "cli@example.com" in e.rcpt_tos]
        monkeypatch.setenv("TOUCHPOINT_API_KEY", campaigns.api_keys["operator"])
        assert cli_main(["campaign", "approve", campaign_id, "--revision", "1"]) == 0
    assert f"campaign {campaign_id}: revision 1 approved by" in capsys.readouterr().out


def test_channels_proofs_refuse_what_they_cannot_deliver(system) -> None:
    _, channels, sink, _ = system
    proof = {"proof_id": "p-direct", "category": "marketing", "content": {"subject": "s", "body": "b"}}
    unknown = channels.post("/proofs", json={**proof, "channel": "web", "recipients": ["qa@example.com"]},
                            role="marketer")
    assert unknown.status_code == 409 and "channel" in unknown.get_json()["errors"]
    bad = channels.post("/proofs", json={**proof, "channel": "email", "recipients": ["qa@", "0664 1"]}, role="marketer")
    assert bad.status_code == 422 and "recipients" in bad.get_json()["errors"]
    before = len(sink.envelopes)
    call = channels.post("/proofs", json={**proof, "channel": "call", "recipients": ["+436641234567"]}, role="marketer")
    assert call.status_code == 200
    [refused] = call.get_json()["deliveries"]
    assert refused["status"] == "refused" and "takes no proofs" in refused["detail"]
    with channels.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM call_tasks")).scalar() == 0
    assert len(sink.envelopes) == before
    assert channels.post("/proofs", json={**proof, "channel": "email", "recipients": ["a@example.com"]},
                         role="agent").status_code == 403
