"""Proof sends: a rendered message marked as a proof, to a seed address, outside the contact policy.

A proof never reaches the contact it was rendered for, so none of the contact's rules apply to it
(caps, gaps, quiet hours, consent, suppressions, capacity) and nothing of the contact's record changes
(no decision, no touch, no delivery job, no outcome message, hence nothing in campaign reports). What
marks it: `[PROOF] ` before the subject, or before the text of a message without a subject (an SMS),
and, on email, the header `X-Touchpoint-Proof: 1` (services/channels/adapters/smtp.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from shared.addresses import normalize_email, normalize_phone

PROOF_PREFIX = "[PROOF] "
AddressKind = Literal["email", "phone"]


def proof_content(content: Mapping[str, Any]) -> dict[str, Any]:
    """The content marked as a proof: the subject prefixed, or the text when there is no subject."""
    marked = dict(content)
    if marked.get("subject"):
        marked["subject"] = _prefixed(marked["subject"])
    else:
        for part in ("body", "text"):
            if marked.get(part):
                marked[part] = _prefixed(marked[part])
    return marked


def _prefixed(text: str) -> str:
    return text if text.startswith(PROOF_PREFIX) else PROOF_PREFIX + text


def seed_address(text: str) -> tuple[AddressKind, str]:
    """The kind of a seed address and its normal form: an email address if it has an `@`, else an
    international phone number (E.164); raise ValueError saying why it is neither."""
    if "@" in text:
        return "email", normalize_email(text)
    return "phone", normalize_phone(text)


def refusal(channel: str, accepts: AddressKind | None, kind: AddressKind) -> str | None:
    """Why a seed address of `kind` cannot take a proof on a channel whose adapter delivers to `accepts`
    (None: the channel delivers into Touchpoint, not to an address); None when it can."""
    if accepts is None:
        return f"channel {channel!r} does not deliver to addresses, so it takes no proofs"
    if accepts != kind:
        return f"channel {channel!r} delivers to {'email addresses' if accepts == 'email' else 'phone numbers'}"
    return None
