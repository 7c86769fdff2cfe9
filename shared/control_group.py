"""Membership of the global control group: a stable, stateless rule every service computes alike.

A contact is in the control group when the bucket of ``sha256("<salt>:<contact_id>")`` falls below
the configured share. The bucket is the first 8 bytes of the digest read as a big-endian unsigned
integer, modulo 10,000 (basis points), so ``percent`` has a resolution of 0.01 %. Nothing is stored:
the same contact id, salt and percent give the same answer after a restart, in any process, in any
service (the channels gate suppresses marketing for members; campaign reports split conversions by
the same rule). Changing the salt draws a new, independent control group; raising the percent keeps
every earlier member and adds new ones (a member's bucket stays below a larger threshold).
"""

from __future__ import annotations

import hashlib

BUCKETS = 10_000  # basis points: percent 12.34 means buckets 0..1233
MAX_PERCENT = 50.0  # the policy refuses more: a control group larger than the treated group is a mistake


def bucket(contact_id: str, salt: str) -> int:
    """The contact's bucket in 0..9999 for ``salt`` (sha256 of ``salt:contact_id``, first 8 bytes, mod 10,000)."""
    digest = hashlib.sha256(f"{salt}:{contact_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def threshold(percent: float) -> int:
    """How many of the 10,000 buckets ``percent`` (0..100) covers, rounded to the nearest basis point."""
    if not 0 <= percent <= 100:
        raise ValueError("percent must be within 0..100")
    return round(percent * BUCKETS / 100)


def in_control_group(contact_id: str, salt: str, percent: float) -> bool:
    """True when ``contact_id`` belongs to the control group of ``salt`` covering ``percent`` % of contacts.

    ``percent`` 0 means nobody; membership is monotone in ``percent`` for a fixed salt.
    """
    return bucket(contact_id, salt) < threshold(percent)
