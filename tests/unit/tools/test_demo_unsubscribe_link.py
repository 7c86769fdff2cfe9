"""The demo prints the preference center and one-click links of an email to a demo contact, and they are valid."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.unsubscribe import verify
from tools.demo import NEWSLETTER, TOPICS, email_contact, mail_links, minted_links, unsubscribe_link

RAW = (b"From: news@touchpoint\r\nTo: ada@example.com\r\nSubject: Our newsletter, Ada\r\n"
       b"List-Unsubscribe: <http://127.0.0.1:8001/u/v1.abc.def>, <mailto:u@x.test?subject=unsubscribe%20v1.abc.def>\r\n"
       b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nMIME-Version: 1.0\r\n"
       b'Content-Type: text/plain; charset="utf-8"\r\n\r\n'
       b"Hello Ada.\r\n\r\nChoose what we send you, or unsubscribe: http://127.0.0.1:8001/p/v1.abc.def\r\n")


def test_the_printed_link_is_a_valid_token_for_the_contact(monkeypatch):
    monkeypatch.delenv("UNSUBSCRIBE_SECRET", raising=False)
    monkeypatch.setenv("TOUCHPOINT_PUBLIC_URL", "http://127.0.0.1:8001")
    link = unsubscribe_link({"unsubscribe_secret": "demo-secret"}, "contact-1")
    assert link is not None and link.startswith("http://127.0.0.1:8001/u/")
    claim = verify(["demo-secret"], link.rsplit("/", 1)[1], datetime.now(UTC))
    assert (claim.contact_id, claim.scope, claim.value) == ("contact-1", "channel", "email")
    assert unsubscribe_link({}, "contact-1") is None
    preferences, one_click = minted_links({"unsubscribe_secret": "demo-secret"}, "contact-1")
    assert preferences.startswith("http://127.0.0.1:8001/p/") and one_click.startswith("http://127.0.0.1:8001/u/")
    assert preferences.rsplit("/", 1)[1] == one_click.rsplit("/", 1)[1]  # one token, as in an email


def test_the_links_are_read_from_the_caught_email():
    assert mail_links(RAW) == ("http://127.0.0.1:8001/p/v1.abc.def", "http://127.0.0.1:8001/u/v1.abc.def")
    assert mail_links(b"Subject: x\r\n\r\nno links\r\n") == ("", "")


def test_the_newsletter_goes_to_someone_inside_the_email_hours_and_names_a_catalogued_topic():
    people = [{"first_name": "Mei", "time_zone": "Asia/Shanghai"}, {"first_name": "Ada", "time_zone": "Europe/London"}]
    assert email_contact(people, datetime(2026, 12, 2, 15, tzinfo=UTC))["first_name"] == "Ada"  # 23:00 in Shanghai
    assert email_contact(people, datetime(2026, 12, 2, 3, tzinfo=UTC))["first_name"] == "Mei"  # 11:00 there
    assert email_contact(people, datetime(2026, 12, 2, 22, tzinfo=UTC))["first_name"] == "Mei"  # nobody: the first
    assert NEWSLETTER["topic"] in TOPICS and "{{ preferences_url }}" in NEWSLETTER["steps"][0]["template"]["body"]
    assert all(set(labels) == {"en", "de"} for labels in TOPICS.values())
