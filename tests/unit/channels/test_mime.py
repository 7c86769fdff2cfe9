"""The SMTP adapter's direct MIME writer reads back exactly as the email package's own message would."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from services.channels.adapters import mime
from services.channels.adapters.base import AdapterContext, Recipient, RenderedMessage
from services.channels.adapters.smtp import SmtpAdapter
from shared.config import Settings
from shared.unsubscribe import verify

SECRET = "unit-unsubscribe-secret"

CASES = [
    ({"subject": "News for $first_name", "body": "Hi $first_name $last_name!"}, Recipient("a@x.test", None, "Ann", "Lee")),
    ({"subject": "Two parts", "body": "Plain\n.\nwith a dot line", "html": "<p>Hi $first_name</p>"},
     Recipient("a@x.test", None, "Ann", None)),
    ({"subject": "Grüße, $first_name", "body": "Schöne Grüße\r\naus Köln\n" + "x" * 1200, "html": "<p>ÄÖÜ</p>"},
     Recipient("b@x.test", None, "Jürgen", "Müller")),
    ({"subject": "", "body": ""}, Recipient("c@x.test", None, 'Lee, "Ann"', None)),
    ({"subject": "x" * 300, "text": "tabs\tand trailing space \nend"}, Recipient("d@x.test")),
]


def _read(data: bytes):
    return message_from_bytes(data, policy=policy.default)


def _summary(msg) -> dict:
    parts = [(p.get_content_type(), p.get_content().replace("\r\n", "\n")) for p in msg.walk()
             if not p.is_multipart()]
    return {"headers": {h: str(msg[h]) for h in ("From", "To", "Subject", "Message-ID", "X-Touchpoint-Request-Id")},
            "type": msg.get_content_type(), "parts": parts}


@pytest.mark.parametrize(("content", "recipient"), CASES)
def test_fast_mime_reads_back_like_the_email_package(content, recipient):
    adapter = SmtpAdapter("email", {"sender": "news@tp.test", "sender_name": "TP News"})
    message = RenderedMessage("cmp:1:s1:c1", "c1", "email", "marketing", content, recipient)
    fast = adapter.render(message)
    assert isinstance(fast, bytes)
    assert all(len(line) <= 998 for line in fast.split(b"\r\n")) and b"\r\n" in fast
    assert b"\n" not in fast.replace(b"\r\n", b"")  # CRLF only, as SMTP DATA wants
    slow = adapter.build(message).as_bytes()
    assert _summary(_read(fast)) == _summary(_read(slow))
    adapter.close()


def test_unusual_addresses_fall_back_to_the_email_package():
    assert mime.render("news@tp.test", None, "jürgen@köln.test", "", "s", "<m@tp>", "r", "b", None) is None
    assert mime.render("news@tp.test", None, "a@x.test", "", "line\nbreak", "<m@tp>", "r", "b", None) is None


def _signing_adapter(**options) -> SmtpAdapter:
    settings = Settings(service="channels", database_url="postgresql://unused", unsubscribe_secrets=(SECRET,),
                        public_url="https://t.example")
    return SmtpAdapter("email", {"sender": "news@tp.test", **options}, AdapterContext(settings))


@pytest.mark.parametrize("fast", [True, False], ids=["mime", "email-package"])
def test_marketing_email_carries_one_click_unsubscribe_headers_on_both_paths(fast):
    adapter = _signing_adapter(unsubscribe_mailto="unsub@tp.test")
    message = RenderedMessage("r1", "contact-7", "email", "marketing", {"subject": "s", "body": "b"},
                              Recipient("a@x.test"))
    data = adapter.render(message) if fast else adapter.build(message).as_bytes()
    assert isinstance(data, bytes)
    read = _read(data)
    assert read["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = (t.strip().strip("<>") for t in str(read["List-Unsubscribe"]).split(","))
    assert https.startswith("https://t.example/u/") and mailto.startswith("mailto:unsub@tp.test?subject=unsubscribe%20")
    claim = verify([SECRET], https.rsplit("/", 1)[1], datetime.now(UTC))
    assert (claim.contact_id, claim.scope, claim.value) == ("contact-7", "channel", "email")
    adapter.close()


@pytest.mark.parametrize("category", ["transactional", "service"])
def test_transactional_and_service_email_carry_no_unsubscribe_headers(category):
    adapter = _signing_adapter()
    message = RenderedMessage("r1", "contact-7", "email", category, {"subject": "s", "body": "b"}, Recipient("a@x.test"))
    for data in (adapter.render(message), adapter.build(message).as_bytes()):
        assert b"List-Unsubscribe" not in data
    adapter.close()


def test_topic_scope_names_the_topic_and_falls_back_to_the_channel():
    adapter = _signing_adapter(unsubscribe_scope="topic")
    for topic, expected in (("mortgage", ("topic", "mortgage")), (None, ("channel", "email"))):
        message = RenderedMessage("r1", "c1", "email", "marketing", {"subject": "s", "body": "b"},
                                  Recipient("a@x.test"), topic=topic)
        [(_, value), _] = adapter.list_headers(adapter.token(message))
        claim = verify([SECRET], value.strip("<>").rsplit("/", 1)[1], datetime.now(UTC))
        assert (claim.scope, claim.value) == expected
    adapter.close()


def test_without_a_secret_no_header_is_written():
    adapter = SmtpAdapter("email", {})
    message = RenderedMessage("r1", "c1", "email", "marketing", {"subject": "s", "body": "b"}, Recipient("a@x.test"))
    assert adapter.token(message) is None and adapter.list_headers(None) == []
    assert adapter.parts(message, None) == ("b", None)  # no token: no footer either
    adapter.close()


def test_a_marketing_body_carries_the_preference_link_of_the_same_token_in_a_footer_or_where_placed():
    adapter = _signing_adapter()
    plain = RenderedMessage("r1", "c1", "email", "marketing", {"subject": "s", "body": "Hello",
                                                              "html": "<html><body><p>Hello</p></body></html>"},
                            Recipient("a@x.test"))
    token = adapter.token(plain)
    text, html = adapter.parts(plain, token)
    url = f"https://t.example/p/{token}"
    assert text == f"Hello\n\n-- \nManage your preferences or unsubscribe: {url}\n"
    assert f'<a href="{url}">{url}</a></p></body></html>' in html
    placed = RenderedMessage("r2", "c1", "email", "marketing",
                             {"subject": "s", "body": "Einstellungen: $preferences_url / Abmelden: $unsubscribe_url"},
                             Recipient("a@x.test"))
    text, _ = adapter.parts(placed, token)
    assert text == f"Einstellungen: {url} / Abmelden: https://t.example/u/{token}"  # no footer then
    # on both paths, the body's link and the header's are the same token
    for data in (adapter.render(plain), adapter.build(plain).as_bytes()):
        message = message_from_bytes(data, policy=policy.default)
        header_token = str(message["List-Unsubscribe"]).strip("<>").rsplit("/", 1)[1]
        assert f"/p/{header_token}" in message.get_body(("plain",)).get_content()
    transactional = RenderedMessage("r3", "c1", "email", "transactional", {"subject": "s", "body": "Receipt"},
                                    Recipient("a@x.test"))
    assert adapter.parts(transactional, adapter.token(transactional)) == ("Receipt", None)
    adapter.close()


@pytest.mark.parametrize(("locale", "option", "expected"), [
    ("de", None, "Einstellungen verwalten oder abmelden: "),
    ("de-AT", None, "Einstellungen verwalten oder abmelden: "),
    ("DE_ch", None, "Einstellungen verwalten oder abmelden: "),
    ("en-GB", None, "Manage your preferences or unsubscribe: "),
    ("fr", None, "Manage your preferences or unsubscribe: "),  # no French line: English
    (None, None, "Manage your preferences or unsubscribe: "),
    ("fr-CA", {"fr": "Vos préférences : {url}"}, "Vos préférences : "),
    ("de", {"fr": "Vos préférences : {url}"}, "Einstellungen verwalten oder abmelden: "),  # laid over
    ("de", "Preferences: {url}", "Preferences: "),  # one text is every contact's line
], ids=["de", "de-AT", "de_CH", "en-GB", "fr-fallback", "none", "fr-option", "de-kept", "one-text"])
def test_the_footer_is_in_the_contacts_language_with_english_as_fallback(locale, option, expected):
    adapter = _signing_adapter(**({"preferences_footer": option} if option else {}))
    message = RenderedMessage("r1", "c1", "email", "marketing", {"subject": "s", "body": "Hallo",
                                                                "html": "<p>Hallo</p>"},
                              Recipient("a@x.test", locale=locale))
    token = adapter.token(message)
    text, html = adapter.parts(message, token)
    url = f"https://t.example/p/{token}"
    assert text == f"Hallo\n\n-- \n{expected}{url}\n"
    assert f"{expected}<a href=\"{url}\">" in html.replace("&#x27;", "'")
    adapter.close()


def test_a_footer_without_the_link_in_any_language_is_refused():
    with pytest.raises(ValueError, match="every language"):
        _signing_adapter(preferences_footer={"de": "Einstellungen"})
