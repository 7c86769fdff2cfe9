"""Durations in filter text: an integer and a unit, e.g. '90s', '15m', '12h', '30d', '2w'."""

from __future__ import annotations

import re
from datetime import timedelta

UNIT_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
# A window longer than this is almost certainly a typo, and an unbounded number would overflow timedelta.
MAX_DURATION = timedelta(days=36500)
_DURATION = re.compile(r"([0-9]{1,9})([wdhms])")


def parse_duration(text: str) -> timedelta | None:
    """The timedelta for a duration like '30d', or None when the text is not a valid duration."""
    match = _DURATION.fullmatch(text)
    if match is None:
        return None
    amount = int(match.group(1))
    if amount == 0:
        return None
    duration = timedelta(seconds=amount * UNIT_SECONDS[match.group(2)])
    return duration if duration <= MAX_DURATION else None


def format_duration(duration: timedelta) -> str:
    """The shortest duration text for a whole number of seconds, e.g. timedelta(days=14) -> '2w'."""
    seconds = int(duration.total_seconds())
    for unit, size in UNIT_SECONDS.items():
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise AssertionError("unreachable: every whole number of seconds divides by 1")
