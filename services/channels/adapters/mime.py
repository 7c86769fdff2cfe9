"""The bytes of a campaign email, written directly instead of through `email.message.EmailMessage`.

The email package's policy machinery (header registry, content manager, generator) costs a few
milliseconds of CPU per message — more than everything else a send costs on the delivery side. A
campaign email is always the same shape: plain ASCII headers, a text part and maybe an HTML part, so
it is written here as bytes, CRLF-terminated, 7bit when the text allows and quoted-printable UTF-8
otherwise (a non-ASCII subject or name as RFC 2047 encoded words), as `EmailMessage` would. Anything
unusual (a non-ASCII address, a header with a line break, an overlong one) returns None and the caller
builds the message with the email package.
"""

from __future__ import annotations

import binascii
import secrets
from collections.abc import Sequence
from email.header import Header
from email.utils import formataddr

_MAX_HEADER = 900  # below RFC 5322's 998 octets per line, header name included
_MAX_LINE = 998


def _plain(value: str) -> bool:
    """A header value that needs no encoding and no folding."""
    return value.isascii() and len(value) <= _MAX_HEADER and "\r" not in value and "\n" not in value


def _body(text: str) -> tuple[str, bytes]:
    """Content-Transfer-Encoding and body bytes (CRLF line ends, ending in a line break) of a text part."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    if text.isascii() and all(len(line) <= _MAX_LINE for line in text.split("\n")) and "\0" not in text:
        return "7bit", text.replace("\n", "\r\n").encode("ascii")
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True)
    return "quoted-printable", encoded.replace(b"\n", b"\r\n")


def _part_headers(subtype: str, cte: str) -> bytes:
    return f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n'.encode()


def render(sender: str, sender_name: str | None, recipient: str, recipient_name: str, subject: str,
           message_id: str, request_id: str, text: str, html: str | None,
           extra_headers: Sequence[tuple[str, str]] = ()) -> bytes | None:
    """The message as SMTP DATA bytes, or None when it needs the email package (non-ASCII or long headers).

    `extra_headers` (List-Unsubscribe, ...) follow the Touchpoint headers, each as given."""
    if not (_plain(sender) and _plain(recipient)):
        return None  # an international address needs SMTPUTF8: the email package's path
    from_ = formataddr((sender_name, sender)) if sender_name else sender
    to = formataddr((recipient_name, recipient))
    if not subject.isascii() and "\r" not in subject and "\n" not in subject:
        # RFC 2047 encoded words, folded: what the email package writes for a non-ASCII subject too.
        subject = Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n")
        subject_ok = True
    else:
        subject_ok = _plain(subject)
    headers = [("From", from_), ("To", to), ("Message-ID", message_id), ("X-Touchpoint-Request-Id", request_id),
               *extra_headers]
    if not subject_ok or not all(_plain(v) for _, v in headers):
        return None
    headers.insert(2, ("Subject", subject))
    head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode("ascii") + b"MIME-Version: 1.0\r\n"
    cte, body = _body(text)
    if not html:
        return head + _part_headers("plain", cte) + b"\r\n" + body
    html_cte, html_body = _body(html)
    boundary = f"=_tp_{secrets.token_hex(12)}".encode()
    while boundary in body or boundary in html_body:  # practically never: QP and 7bit text rarely hold it
        boundary = f"=_tp_{secrets.token_hex(12)}".encode()
    return (head + b'Content-Type: multipart/alternative; boundary="' + boundary + b'"\r\n\r\n'
            + b"--" + boundary + b"\r\n" + _part_headers("plain", cte) + b"\r\n" + body + b"\r\n"
            + b"--" + boundary + b"\r\n" + _part_headers("html", html_cte) + b"\r\n" + html_body + b"\r\n"
            + b"--" + boundary + b"--\r\n")
