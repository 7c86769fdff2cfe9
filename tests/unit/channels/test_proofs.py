"""Proof sends: the marking, the seed addresses, and what each address gets (handlers/proofs.py)."""

from __future__ import annotations

from email import message_from_bytes

import pytest

from services.channels.adapters.base import AdapterContext, ChannelAdapter, DeliveryResult, RenderedMessage
from services.channels.adapters.smtp import SmtpAdapter
from services.channels.domain.proof import PROOF_PREFIX, proof_content, refusal, seed_address
from services.channels.handlers.proofs import deliver_proofs
from shared.config import Settings


def test_the_subject_is_marked_or_else_the_text():
    assert proof_content({"subject": "Hello", "body": "b", "html": "<p>b</p>"}) == {
        "subject": "[PROOF] Hello", "body": "b", "html": "<p>b</p>"}
    assert proof_content({"subject": None, "body": "Hi Jane"}) == {"subject": None, "body": "[PROOF] Hi Jane"}
    assert proof_content({"text": "Hi"}) == {"text": "[PROOF] Hi"}
    assert proof_content(proof_content({"body": "Hi"})) == {"body": "[PROOF] Hi"}  # marked once


def test_seed_addresses_are_email_or_international_phone():
    assert seed_address(" QA@Example.COM ") == ("email", "QA@example.com")
    assert seed_address("+43 664 1234567") == ("phone", "+436641234567")
    for bad in ("qa@", "0664 1234567", "hello"):
        with pytest.raises(ValueError):
            seed_address(bad)


def test_a_channel_takes_only_its_kind_of_address():
    assert refusal("email", "email", "email") is None
    assert "phone numbers" in refusal("sms", "phone", "email")
    assert "takes no proofs" in refusal("call", None, "phone")


class Recording(ChannelAdapter):
    seed_address = "phone"

    def __init__(self) -> None:
        super().__init__("sms")
        self.sent: list[RenderedMessage] = []

    def send(self, message: RenderedMessage) -> DeliveryResult:
        self.sent.append(message)
        if message.recipient.phone == "+436641234568":
            raise ConnectionError("gateway down")
        return DeliveryResult("sent", f"gw-{len(self.sent)}")


def test_each_seed_gets_a_marked_copy_and_its_own_result():
    adapter = Recording()
    results = deliver_proofs(adapter, {"proof_id": "p1", "category": "marketing", "content": {"body": "Hi"},
                                       "campaign_id": "cmp", "step_id": "s1", "contact_id": "c1"},
                             ["+43 664 1234567", "qa@example.com", "+436641234568"])
    assert [(r["to"], r["status"]) for r in results] == [
        ("+436641234567", "sent"), ("qa@example.com", "refused"), ("+436641234568", "failed")]
    assert "gateway down" in results[2]["detail"]
    first = adapter.sent[0]
    assert first.proof and first.content == {"body": PROOF_PREFIX + "Hi"} and first.recipient.email is None
    assert first.request_id == "proof-p1-0" and first.contact_id == "c1"


def test_a_proof_email_carries_the_marker_header_and_no_unsubscribe_link():
    settings = Settings(service="channels", database_url="postgresql://unused", unsubscribe_secrets=("s" * 32,),
                        public_url="https://t.example")
    adapter = SmtpAdapter("email", {"sender": "news@tp.test"}, AdapterContext(settings))
    results: list[RenderedMessage] = []

    def keep(message: RenderedMessage) -> DeliveryResult:  # keep the message, send nothing
        results.append(message)
        return DeliveryResult("sent", "kept")

    adapter.send = keep  # type: ignore[method-assign]
    deliver_proofs(adapter, {"proof_id": "p2", "category": "marketing",
                             "content": {"subject": "Spring", "body": "Hi"}}, ["qa@example.com"])
    [message] = results
    for data in (adapter.render(message), adapter.build(message).as_bytes()):
        read = message_from_bytes(data)
        assert read["X-Touchpoint-Proof"] == "1" and read["Subject"] == "[PROOF] Spring"
        assert read["List-Unsubscribe"] is None and read["To"] == "qa@example.com"
    adapter.close()
