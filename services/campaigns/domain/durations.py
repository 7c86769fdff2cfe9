"""Durations ('3d', '12h', '1d12h') and local times of day ('09:00') used by campaign steps."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Longer than this is a typo, and an unbounded number would overflow timedelta.
MAX_DURATION = timedelta(days=3660)
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_DURATION = re.compile(r"^(?:\d+[wdhms])+$")
_PART = re.compile(r"(\d+)([wdhms])")
_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_duration(text: str) -> timedelta:
    """Parse a positive duration such as '3d', '12h', '30m', '2w' or '1d12h'; raise ValueError."""
    if not isinstance(text, str) or not _DURATION.match(text.strip()):
        raise ValueError(f"invalid duration {text!r}: expected e.g. '3d', '12h', '30m' or '1d12h'")
    total = timedelta()
    try:
        for amount, unit in _PART.findall(text.strip()):
            total += timedelta(**{_UNITS[unit]: int(amount)})
    except OverflowError:
        total = MAX_DURATION * 2
    if total <= timedelta(0):
        raise ValueError(f"invalid duration {text!r}: must be longer than zero")
    if total > MAX_DURATION:
        raise ValueError(f"invalid duration {text!r}: must be at most {MAX_DURATION.days} days")
    return total


def parse_time_of_day(text: str) -> time:
    """Parse a 24-hour 'HH:MM' local time of day; raise ValueError."""
    match = _TIME_OF_DAY.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"invalid time of day {text!r}: expected 'HH:MM' (24-hour)")
    return time(int(match.group(1)), int(match.group(2)))


def zone(name: str) -> ZoneInfo:
    """Return the IANA time zone `name`; raise ValueError if it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def next_local_time(at: time, tz_name: str, now: datetime) -> datetime:
    """Return the first instant strictly after `now` whose wall clock in `tz_name` reads `at`, in UTC.

    Wall-clock arithmetic is done per calendar date, so a wait until 09:00 stays at 09:00
    across a DST change. A time that does not exist that day (spring-forward gap) falls
    forward by the gap; a time that exists twice (fall-back) means its first occurrence.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    tz = zone(tz_name)
    local_today = now.astimezone(tz).date()
    for offset in range(3):
        candidate = _wall_clock(local_today + timedelta(days=offset), at, tz)
        if candidate > now:
            return candidate
    raise AssertionError("unreachable: a local time of day recurs within three days")


def _wall_clock(day: date, at: time, tz: ZoneInfo) -> datetime:
    # fold=0 picks the earlier offset; for a non-existent time that is the pre-transition
    # offset, so the UTC round trip lands after the gap (02:30 -> 03:30 in Europe/Berlin).
    local = datetime.combine(day, at, tzinfo=tz).replace(fold=0)
    return local.astimezone(UTC)
