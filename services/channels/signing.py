"""HMAC-SHA256 signatures of webhook bodies: `X-Touchpoint-Signature: sha256=<hex>`."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Touchpoint-Signature"


def sign(secret: str, body: bytes) -> str:
    """The signature header value of `body` under `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is the signature of `body`; always False without a secret."""
    if not secret or not header:
        return False
    return hmac.compare_digest(sign(secret, body), header.strip())
