"""Where "now" comes from, for every service: one `Clock` protocol, injected wherever time decides.

Tests pass a `ManualClock` and cross a DST change or an expiry without waiting for it. Plain Python
only (no Flask, SQLAlchemy or pika), so pure `domain/` packages may import it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """A source of the current time (always timezone-aware UTC)."""

    def now(self) -> datetime:
        """The current instant."""


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """The current instant, UTC."""
        return datetime.now(UTC)


system_clock = SystemClock()


def utc_now() -> datetime:
    """The machine's current instant, UTC (for code that has no clock injected: real time on purpose)."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to (tests, simulations); safe to share between threads."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a clock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The instant the clock was set to."""
        with self._lock:
            return self._now

    def set(self, instant: datetime) -> None:
        """Jump to `instant` (aware)."""
        if instant.tzinfo is None:
            raise ValueError("a clock needs an aware datetime")
        with self._lock:
            self._now = instant.astimezone(UTC)

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by `delta`; return the new instant."""
        with self._lock:
            self._now += delta
            return self._now


class FixedClock:
    """A clock stopped at one instant (a dry run decided "as of" a time)."""

    def __init__(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("a clock needs an aware datetime")
        self._now = instant.astimezone(UTC)

    def now(self) -> datetime:
        """The fixed instant."""
        return self._now
