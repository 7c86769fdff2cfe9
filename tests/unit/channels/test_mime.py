"""The SMTP adapter's direct MIME writer reads back exactly as the email package's own message would."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from services.channels.adapters import mime
from services.channels.adapters.base import Recipient, RenderedMessage
from services.channels.adapters.smtp import SmtpAdapter

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
