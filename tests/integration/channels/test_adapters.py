"""Adapters against real servers on loopback: aiosmtpd for SMTP, a local HTTP server for the gateways."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from services.channels.adapters.base import AdapterContext, Recipient, RenderedMessage
from services.channels.adapters.registry import build_adapters, parse_config
from services.channels.adapters.sms import SmsGatewayAdapter
from services.channels.adapters.smtp import SmtpAdapter
from services.channels.adapters.webhook import WebhookAdapter
from services.channels.signing import SIGNATURE_HEADER, verify
from shared.config import Settings
from shared.unsubscribe import verify as verify_token
from tests.integration.channels.conftest import free_port
from tests.support import UNSUBSCRIBE_SECRET, SmtpSink

pytestmark = pytest.mark.integration


def _message(request_id: str = "r1", **content) -> RenderedMessage:
    return RenderedMessage(request_id, "c1", "email", "marketing",
                           content or {"subject": "News for $first_name", "body": "Hi $first_name $last_name!",
                                       "html": "<p>Hi $first_name</p>"},
                           Recipient(email="ann@example.test", phone="+15550002", first_name="Ann", last_name="Lee"))


def test_smtp_delivers_headers_and_personalised_body_and_reconnects(smtp_server):
    adapter = SmtpAdapter("email", {"port": smtp_server.port, "sender": "news@tp.test", "sender_name": "TP News"})
    assert adapter.send(_message("r1")).status == "sent"
    assert adapter.send(_message("r2")).status == "sent"  # the same connection, reused
    [first, second] = smtp_server.envelopes
    text = first.original_content.decode()
    assert first.mail_from == "news@tp.test" and first.rcpt_tos == ["ann@example.test"]
    assert "From: TP News <news@tp.test>" in text and "To: Ann Lee <ann@example.test>" in text
    assert "Subject: News for Ann" in text and "Hi Ann Lee!" in text and "<p>Hi Ann</p>" in text
    assert "Message-ID: <r2@touchpoint>" in second.original_content.decode()

    adapter.close()


def test_smtp_reconnects_after_the_server_dropped_the_connection():
    port = free_port()
    sink = SmtpSink()
    server = Controller(sink, hostname="127.0.0.1", port=port)
    server.start()
    adapter = SmtpAdapter("email", {"port": port})
    assert adapter.send(_message("a")).status == "sent"
    server.stop()
    assert adapter.send(_message("b")).status == "retry"  # down: a temporary failure, never a loss
    server = Controller(sink, hostname="127.0.0.1", port=port)
    server.start()
    try:
        assert adapter.send(_message("c")).status == "sent"  # a fresh connection
    finally:
        server.stop()
        adapter.close()
    assert [e.original_content.decode().count("<c@touchpoint>") for e in sink.envelopes][-1] == 1


def test_smtp_a_4xx_refusal_of_the_recipient_is_retried_a_5xx_fails(smtp_server):
    """Greylisting (451 at RCPT TO) is a soft bounce: retry, then sent; 550 is permanent: failed."""
    adapter = SmtpAdapter("email", {"port": smtp_server.port})
    try:
        smtp_server.refuse_once("ann@example.test", "451 4.7.1 Greylisted, try again later")
        first = adapter.send(_message("g1"))
        assert (first.status, "451" in first.detail) == ("retry", True), first
        assert adapter.send(_message("g1")).status == "sent"  # the retry, on the same pooled connection
        smtp_server.refuse_once("ann@example.test", "550 5.1.1 No such user")
        gone = adapter.send(_message("g2"))
        assert (gone.status, "550" in gone.detail) == ("failed", True), gone
    finally:
        adapter.close()
    assert [e.rcpt_tos for e in smtp_server.envelopes] == [["ann@example.test"]]


def test_webhook_adapter_signs_the_body(gateway, monkeypatch):
    monkeypatch.setenv("PUSH_SECRET", "s3cret")
    adapter = WebhookAdapter("push", {"url": gateway.url, "secret_env": "PUSH_SECRET"})
    result = adapter.send(_message("w1"))
    assert result.status == "sent" and result.provider_id == "gw-1"
    headers, body = gateway.requests[0]
    assert verify("s3cret", body, headers[SIGNATURE_HEADER])
    assert not verify("other", body, headers[SIGNATURE_HEADER])
    assert json.loads(body)["recipient"]["email"] == "ann@example.test"
    gateway.statuses = [429, 400]
    assert adapter.send(_message("w2")).status == "retry"
    assert adapter.send(_message("w3")).status == "failed"


def test_webhook_adapter_refuses_to_start_without_its_secret(gateway, monkeypatch):
    monkeypatch.delenv("NO_SUCH_SECRET", raising=False)
    with pytest.raises(ValueError, match="NO_SUCH_SECRET"):
        WebhookAdapter("push", {"url": gateway.url, "secret_env": "NO_SUCH_SECRET"})


def test_sms_gateway_adapter(gateway, monkeypatch):
    monkeypatch.setenv("SMS_TOKEN", "tok")
    adapter = SmsGatewayAdapter("sms", {"url": gateway.url, "sender": "TP", "token_env": "SMS_TOKEN"})
    assert adapter.send(_message("s1", text="Hi $first_name, 20% off")).status == "sent"
    headers, body = gateway.requests[0]
    assert json.loads(body) == {"to": "+15550002", "from": "TP", "text": "Hi Ann, 20% off", "reference": "s1"}
    assert headers["Authorization"] == "Bearer tok"
    gateway.statuses = [500]
    assert adapter.send(_message("s2", text="x")).status == "retry"
    dead = SmsGatewayAdapter("sms", {"url": "http://127.0.0.1:9/none", "timeout": 1})
    assert dead.send(_message("s3", text="x")).status == "retry"


def test_registry_builds_configured_adapters_from_entry_points(gateway, monkeypatch):
    monkeypatch.setenv("CHANNELS_WEBHOOK_SECRET", "k")
    config = parse_config(json.dumps({"email": {"adapter": "smtp", "port": 2525},
                                      "push": {"adapter": "webhook", "url": gateway.url},
                                      "fax": {"adapter": "services.channels.adapters.sms:SmsGatewayAdapter"},
                                      "web": None}))
    adapters = build_adapters(config, None)
    assert {k: type(v).__name__ for k, v in adapters.items()} == {
        "email": "SmtpAdapter", "push": "WebhookAdapter", "fax": "SmsGatewayAdapter"}
    assert adapters["push"].channel == "push"


def _to(email: str, first_name: str = "Ann") -> RenderedMessage:
    return RenderedMessage("r-" + email.split("@")[0], "c1", "email", "marketing",
                           {"subject": "News for $first_name", "body": "Hi $first_name!"},
                           Recipient(email=email, phone=None, first_name=first_name, last_name="Lee"))


@pytest.mark.parametrize("smtputf8", [False, True])
def test_an_international_address_goes_out_only_where_the_relay_offers_smtputf8(smtputf8):
    sink = SmtpSink()
    server = Controller(sink, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=smtputf8)
    server.start()
    adapter = SmtpAdapter("email", {"port": server.port})
    try:
        result = adapter.send(_to("jürgen@example.test"))
        if smtputf8:
            assert result.status == "sent"
        else:  # a clear, final reason: no retry would make this relay take the address
            assert result.status == "failed" and "SMTPUTF8" in result.detail
        assert adapter.send(_to("ann@example.test")).status == "sent"  # the connection serves the next one
    finally:
        adapter.close()
        server.stop()
    assert [e.rcpt_tos for e in sink.envelopes] == [["jürgen@example.test"]] * smtputf8 + [["ann@example.test"]]


def test_a_header_injection_through_a_personalised_name_fails_that_message_only(smtp_server):
    adapter = SmtpAdapter("email", {"port": smtp_server.port})
    try:
        result = adapter.send(_to("eve@example.test", first_name="Eve\r\nBcc: victim@example.test"))
        assert result.status == "failed" and result.detail.startswith("unsendable message")
        assert adapter.send(_to("ann@example.test")).status == "sent"
    finally:
        adapter.close()
    assert [e.rcpt_tos for e in smtp_server.envelopes] == [["ann@example.test"]]


def test_smtp_marketing_email_carries_rfc_8058_headers_and_transactional_none(smtp_server):
    settings = Settings(service="channels", database_url="postgresql://unused",
                        unsubscribe_secrets=(UNSUBSCRIBE_SECRET,), public_url="https://tp.example")
    adapter = SmtpAdapter("email", {"port": smtp_server.port}, AdapterContext(settings))
    marketing = RenderedMessage("m1", "contact-42", "email", "marketing", {"subject": "Offer", "body": "b"},
                                Recipient(email="ann@example.test"))
    receipt = RenderedMessage("t1", "contact-42", "email", "transactional", {"subject": "Receipt", "body": "b"},
                              Recipient(email="ann@example.test"))
    assert adapter.send(marketing).status == "sent" and adapter.send(receipt).status == "sent"
    first, second = (message_from_bytes(e.original_content, policy=policy.default) for e in smtp_server.envelopes)
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = str(first["List-Unsubscribe"]).strip("<>")
    assert link.startswith("https://tp.example/u/")
    claim = verify_token([UNSUBSCRIBE_SECRET], link.rsplit("/", 1)[1], datetime.now(UTC))
    assert (claim.contact_id, claim.scope, claim.value) == ("contact-42", "channel", "email")
    assert second["List-Unsubscribe"] is None and second["List-Unsubscribe-Post"] is None
    adapter.close()
