"""Proof sends: the seed addresses of a definition, the plan of which step goes where, and the use case
against in-memory repositories and a fake channels client (domain/proof.py, handlers/proofs.py)."""

from __future__ import annotations

from typing import Any

import pytest

from services.campaigns.domain.proof import NO_SEED, check_proof_recipients, proof_plan
from services.campaigns.domain.validation import validate_definition
from services.campaigns.handlers.proofs import prepare_proof, send_proof
from services.campaigns.proof_sender import ProofUnavailable
from shared.errors import Conflict, Invalid, NotFound
from tests.unit.campaigns.fakes import FakeUnitOfWork

CHANNELS = {"email", "sms", "call"}
STEPS = [
    {"id": "mail", "type": "send", "channel": "email", "next": "pause",
     "template": {"subject": "Hi {{ contact.first_name }}", "body": "Rate {{ contact.tier }}"}},
    {"id": "pause", "type": "wait", "duration": "1d", "next": "text"},
    {"id": "text", "type": "send", "channel": "sms", "next": "ring", "template": {"body": "Hi {{ contact.first_name }}"}},
    {"id": "ring", "type": "send", "channel": "call", "template": {"body": "Call {{ contact.first_name }}"}},
]
SEEDS = {"email": ["QA@Example.com", "qa@example.com", "boss@example.com"], "sms": ["+43 664 1234567"]}


def test_seed_addresses_are_checked_like_contact_addresses():
    assert check_proof_recipients(SEEDS, CHANNELS) == []
    assert check_proof_recipients(None, CHANNELS) == []
    errors = {e.path: e.message for e in check_proof_recipients(
        {"email": ["qa@", "ok@example.com"], "sms": ["0664 1234567", 7], "fax": ["a@b.example"], "call": []},
        CHANNELS)}
    assert set(errors) == {"proof_recipients.email[0]", "proof_recipients.sms[0]", "proof_recipients.sms[1]",
                           "proof_recipients.fax", "proof_recipients.call"}
    assert "international" in errors["proof_recipients.sms[0]"]


def test_the_definition_check_names_the_seed_and_the_approval_flag(definition):
    raw = definition(STEPS, proof_recipients={"email": ["nope"]}, requires_approval="yes")
    assert {e.path for e in validate_definition(raw, CHANNELS)} == {"proof_recipients.email[0]",
                                                                   "requires_approval"}


def test_the_plan_lists_every_send_step_with_its_seeds_or_why_not(definition):
    plan = proof_plan(definition(STEPS, proof_recipients=SEEDS))
    assert [(p.step_id, p.channel, p.recipients, p.skipped) for p in plan] == [
        ("mail", "email", ("QA@example.com", "qa@example.com", "boss@example.com"), None),
        ("text", "sms", ("+436641234567",), None),
        ("ring", "call", (), NO_SEED)]
    assert [p.step_id for p in proof_plan(definition(STEPS, proof_recipients=SEEDS), "text")] == ["text"]


class Channels:
    """A fake channels client: answers each seed `sent`, or is down."""

    def __init__(self, down: bool = False) -> None:
        self.asked: list[dict[str, Any]] = []
        self.down = down

    def send(self, proof):
        self.asked.append(dict(proof))
        if self.down:
            raise ProofUnavailable("POST /proofs failed")
        return [{"to": to, "status": "sent", "detail": "", "provider_id": "x"} for to in proof["recipients"]]


@pytest.fixture
def uow(definition) -> FakeUnitOfWork:
    fake = FakeUnitOfWork()
    fake.campaigns.add_campaign("cmp", definition(STEPS, proof_recipients=SEEDS), status="draft")
    fake.contacts.contacts["c1"] = {"contact_id": "c1", "first_name": "Ada", "attributes": {"tier": "gold"}}
    return fake


def test_a_proof_renders_for_the_contact_and_goes_only_to_the_seeds(uow):
    channels = Channels()
    answer = send_proof(prepare_proof(uow, "cmp", "c1", None, {}, None), channels)
    assert answer["contact_id"] == "c1"
    steps = {s["step_id"]: s for s in answer["steps"]}
    assert steps["mail"]["subject"] == "Hi Ada" and steps["mail"]["body"] == "Rate gold"
    assert [d["to"] for d in steps["mail"]["deliveries"]] == ["QA@example.com", "qa@example.com", "boss@example.com"]
    assert steps["ring"]["deliveries"] == [] and steps["ring"]["skipped"] == NO_SEED
    assert [a["channel"] for a in channels.asked] == ["email", "sms"]
    assert channels.asked[0]["contact_id"] == "c1" and channels.asked[0]["category"] == "marketing"
    assert uow.published == [] and uow.sends.sends == {}  # nothing requested, nothing measured


def test_without_a_contact_the_sample_renders(uow):
    answer = send_proof(prepare_proof(uow, "cmp", None, None, {}, "text"), Channels())
    assert [(s["step_id"], s["body"]) for s in answer["steps"]] == [("text", "Hi Jane")]
    assert answer["contact_id"] is None


def test_a_channels_outage_is_named_on_the_step(uow):
    answer = send_proof(prepare_proof(uow, "cmp", None, {"first_name": "Bo", "tier": "x"}, {}, None),
                        Channels(down=True))
    assert all(s["skipped"] for s in answer["steps"]) and "did not take it" in answer["steps"][0]["skipped"]


def test_bad_requests_are_refused(uow, definition):
    with pytest.raises(NotFound):
        prepare_proof(uow, "nope", None, None, {}, None)
    with pytest.raises(NotFound):
        prepare_proof(uow, "cmp", "ghost", None, {}, None)
    with pytest.raises(Invalid):
        prepare_proof(uow, "cmp", None, None, {}, "pause")  # not a send step
    uow.campaigns.add_campaign("bare", definition(STEPS), status="draft")
    with pytest.raises(Conflict) as refused:
        prepare_proof(uow, "bare", None, None, {}, None)
    assert "proof_recipients" in refused.value.errors
