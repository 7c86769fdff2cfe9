"""Send windows in the contact's own time zone, daylight-saving transitions included.

A window is a set of local wall-clock times. An instant is inside it when the contact's
clock shows a time inside it at that instant; the next window start is the earliest
instant at which that becomes true. That one definition settles the DST cases:

- spring forward: a 02:30 start that the clock skips opens at the first instant the clock
  shows a time after it (03:00 in Europe/Berlin), and a window lying wholly in the skipped
  hour does not happen that day;
- fall back: a start in the repeated hour opens at its first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.channels.domain.model import SendWindow

# Every weekday recurs within 8 days; the extra week covers a window that falls into a
# skipped DST hour on its only weekday.
SEARCH_HORIZON = timedelta(days=15)

# No real time zone changes its offset twice within six hours, so probing at this step
# and bisecting finds every transition.
_PROBE_STEP = timedelta(hours=6)
_ONE_DAY = timedelta(days=1)


def resolve_time_zone(name: str | None) -> tzinfo:
    """The contact's time zone from its IANA name; UTC when missing or unknown."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # A bad profile value must not stop the gate; UTC is the documented fallback.
        return UTC


def _occurrences(window: SendWindow, first_day: date, last_day: date) -> Iterator[tuple[datetime, datetime]]:
    """Naive local [start, end) of each occurrence of ``window`` starting between the two days."""
    length = window.length
    day = first_day
    while day <= last_day:
        if day.weekday() in window.weekdays:
            start = datetime.combine(day, window.start)
            yield start, start + length
        day += _ONE_DAY


def is_within_quiet_window(local_windows: Sequence[SendWindow], tz: tzinfo, at: datetime) -> bool:
    """True when sending is allowed at ``at``: inside a send window in local time, or no windows at all."""
    if not local_windows:
        return True
    wall = at.astimezone(tz).replace(tzinfo=None)
    today = wall.date()
    return any(
        start <= wall < end
        for window in local_windows
        for start, end in _occurrences(window, today - _ONE_DAY, today)
    )


def _offset(tz: tzinfo, utc_naive: datetime) -> timedelta:
    offset = utc_naive.replace(tzinfo=UTC).astimezone(tz).utcoffset()
    return offset if offset is not None else timedelta(0)


def _constant_offset_spans(
    tz: tzinfo, start: datetime, end: datetime
) -> Iterator[tuple[datetime, datetime, timedelta]]:
    """Split naive-UTC [start, end) into consecutive spans over which the UTC offset of ``tz`` is fixed."""
    span_start, current = start, _offset(tz, start)
    probe = start
    while probe < end:
        step_end = min(probe + _PROBE_STEP, end)
        if _offset(tz, step_end) == current:
            probe = step_end
            continue
        low, high = probe, step_end  # offset(low) == current != offset(high)
        while high - low > timedelta(microseconds=1):
            middle = low + (high - low) / 2
            if _offset(tz, middle) == current:
                low = middle
            else:
                high = middle
        yield span_start, high, current
        span_start, current, probe = high, _offset(tz, high), high
    yield span_start, end, current


def next_window_start(local_windows: Sequence[SendWindow], tz: tzinfo, now: datetime) -> datetime | None:
    """The earliest instant at or after ``now`` (in UTC) when sending is allowed; None if none in 15 days.

    Pure, and the same for every contact of a time zone at one instant: a gate batch or a forecast decides
    thousands of messages at one `now` over a few zones, and the search below costs a few hundred offset
    look-ups, so answers are memoised (windows as a tuple, the zone and the instant are the key).
    """
    if isinstance(local_windows, tuple):
        return _next_window_start_cached(local_windows, tz, now)
    return _next_window_start(local_windows, tz, now)


@lru_cache(maxsize=4096)
def _next_window_start_cached(local_windows: tuple[SendWindow, ...], tz: tzinfo, now: datetime) -> datetime | None:
    return _next_window_start(local_windows, tz, now)


def _next_window_start(local_windows: Sequence[SendWindow], tz: tzinfo, now: datetime) -> datetime | None:
    if is_within_quiet_window(local_windows, tz, now):
        return now.astimezone(UTC)
    start = now.astimezone(UTC).replace(tzinfo=None)
    for span_start, span_end, offset in _constant_offset_spans(tz, start, start + SEARCH_HORIZON):
        # Within a span the wall clock is UTC + offset, so each occurrence maps to one UTC interval.
        first_day = (span_start + offset).date() - _ONE_DAY
        last_day = (span_end + offset).date()
        best: datetime | None = None
        for window in local_windows:
            for local_start, local_end in _occurrences(window, first_day, last_day):
                opens = max(span_start, local_start - offset)
                if opens < min(span_end, local_end - offset) and (best is None or opens < best):
                    best = opens
        if best is not None:
            return best.replace(tzinfo=UTC)
    return None
