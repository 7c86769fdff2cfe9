"""Contact ids: UUID strings in version-7 layout, so id order is creation order."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last = [0, 0]  # milliseconds, sequence within that millisecond


def new_id() -> str:
    """A fresh UUIDv7 string: 48 bits of Unix milliseconds, a 12-bit sequence, 62 random bits.

    Time-ordered ids keep the primary-key index append-mostly during bulk imports and make keyset
    pagination by id follow creation order; the sequence (RFC 9562, method 1) keeps ids made in
    one process strictly increasing even within a millisecond.
    """
    with _lock:
        millis = max(time.time_ns() // 1_000_000, _last[0])
        sequence = _last[1] + 1 if millis == _last[0] else 0
        if sequence > 0xFFF:
            millis, sequence = millis + 1, 0
        _last[:] = [millis, sequence]
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | sequence << 64 | 0x2 << 62
    value |= int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def is_uuid(text: str) -> bool:
    """Whether `text` is a canonical UUID string (anything else can't be a contact id)."""
    try:
        return str(uuid.UUID(text)) == text.lower()
    except (ValueError, AttributeError, TypeError):
        return False
