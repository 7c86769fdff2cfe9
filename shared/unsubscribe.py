"""Signed one-click unsubscribe tokens (RFC 8058): minted by channels, verified by contacts.

A token names one contact and what to stop (a channel, e.g. `email`, or a topic) and when it was
issued, signed with HMAC-SHA256 under the deployment's UNSUBSCRIBE_SECRET:

    v1.<base64url(JSON [contact_id, scope, value, issued_at])>.<base64url(HMAC-SHA256)>

The MAC covers the version and the payload, so changing the contact, the scope or the date breaks
it: a token works only for the contact it was minted for. It is URL-safe (base64url without padding
and dots), carries no personal data beyond the contact id, and expires `max_age` after it was issued
(one year by default: long enough for an old email in an archive, short enough that a leaked
link dies). Verification tries every configured secret, so a secret can be rotated by keeping the
old one in UNSUBSCRIBE_PREVIOUS_SECRET until its tokens expire. Pure: no I/O, no clock of its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

VERSION = "v1"
SCOPES = ("channel", "topic")
DEFAULT_MAX_AGE = timedelta(days=365)
# A token issued a little in the future is accepted (clocks of two services differ slightly); more is forged.
_CLOCK_SKEW = timedelta(minutes=5)
_MAX_TOKEN = 512  # longer than any token minted here: refused before any decoding
_DOMAIN = b"touchpoint.unsubscribe."  # domain separation: a webhook signature is never a token MAC


class InvalidToken(ValueError):
    """The token is malformed, tampered with, or signed with another secret."""


class ExpiredToken(InvalidToken):
    """The token was genuine but is older than the allowed age."""


@dataclass(frozen=True)
class UnsubscribeClaim:
    """What a verified token says: stop `scope`/`value` messages to `contact_id`."""

    contact_id: str
    scope: str
    value: str
    issued_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("not base64url") from exc


def _mac(secret: str, signed: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), _DOMAIN + signed.encode("ascii"), hashlib.sha256).digest()


def mint(secret: str, contact_id: str, scope: str, value: str, issued_at: datetime) -> str:
    """A token that unsubscribes `contact_id` from `scope`/`value`; ValueError without a secret."""
    if not secret:
        raise ValueError("no UNSUBSCRIBE_SECRET is configured")
    if scope not in SCOPES or not value or not contact_id:
        raise ValueError(f"bad unsubscribe scope {scope!r}/{value!r} for contact {contact_id!r}")
    payload = json.dumps([contact_id, scope, value, int(issued_at.timestamp())], separators=(",", ":"))
    signed = f"{VERSION}.{_b64(payload.encode('utf-8'))}"
    return f"{signed}.{_b64(_mac(secret, signed))}"


def verify(secrets: Sequence[str], token: str, now: datetime,
           max_age: timedelta = DEFAULT_MAX_AGE) -> UnsubscribeClaim:
    """The claim of a genuine, unexpired token; InvalidToken (or ExpiredToken) otherwise."""
    keys = [s for s in secrets if s]
    if not keys:
        raise InvalidToken("no UNSUBSCRIBE_SECRET is configured")
    if len(token) > _MAX_TOKEN or not token.isascii():
        raise InvalidToken("not a token")
    version, _, rest = token.partition(".")
    payload_text, _, mac_text = rest.partition(".")
    if version != VERSION or not payload_text or not mac_text:
        raise InvalidToken("not a token")
    mac = _unb64(mac_text)
    signed = f"{version}.{payload_text}"
    # Every secret is tried (constant-time compares), so rotation keeps old links working.
    if not any(hmac.compare_digest(_mac(key, signed), mac) for key in keys):
        raise InvalidToken("bad signature")
    try:
        contact_id, scope, value, issued = json.loads(_unb64(payload_text))
        issued_at = datetime.fromtimestamp(int(issued), UTC)
    except (ValueError, TypeError, OverflowError, OSError) as exc:
        raise InvalidToken("bad payload") from exc
    if not (isinstance(contact_id, str) and isinstance(value, str)) or scope not in SCOPES:
        raise InvalidToken("bad payload")
    if issued_at > now + _CLOCK_SKEW:
        raise InvalidToken("issued in the future")
    if now - issued_at > max_age:
        raise ExpiredToken(f"issued {issued_at.date().isoformat()}, valid for {max_age.days} days")
    return UnsubscribeClaim(contact_id, scope, value, issued_at)


def unsubscribe_url(public_url: str, token: str) -> str:
    """The https (or, locally, http) one-click URL of a token, served by the contacts service."""
    return f"{public_url.rstrip('/')}/u/{token}"


def preferences_url(public_url: str, token: str) -> str:
    """The preference center's URL for the same token (GET shows the page, POST saves it); `""` gives the path."""
    return f"{public_url.rstrip('/')}/p/{token}"
