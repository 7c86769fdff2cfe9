"""The demo prints a one-click unsubscribe link that the contacts service accepts for the example contact."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.unsubscribe import verify
from tools.demo import unsubscribe_link


def test_the_printed_link_is_a_valid_token_for_the_contact(monkeypatch):
    monkeypatch.delenv("UNSUBSCRIBE_SECRET", raising=False)
    monkeypatch.setenv("TOUCHPOINT_PUBLIC_URL", "http://127.0.0.1:8001")
    link = unsubscribe_link({"unsubscribe_secret": "demo-secret"}, "contact-1")
    assert link is not None and link.startswith("http://127.0.0.1:8001/u/")
    claim = verify(["demo-secret"], link.rsplit("/", 1)[1], datetime.now(UTC))
    assert (claim.contact_id, claim.scope, claim.value) == ("contact-1", "channel", "email")
    assert unsubscribe_link({}, "contact-1") is None
