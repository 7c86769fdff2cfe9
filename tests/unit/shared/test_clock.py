"""The one Clock of every service: aware UTC, a manual clock for tests, a fixed one for dry runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.clock import Clock, FixedClock, ManualClock, SystemClock, system_clock, utc_now


def test_system_clock_is_aware_utc() -> None:
    for clock in (SystemClock(), system_clock):
        assert clock.now().tzinfo is UTC
    assert utc_now().tzinfo is UTC


def test_manual_clock_moves_only_when_told() -> None:
    start = datetime(2026, 3, 29, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    clock = ManualClock(start)
    assert clock.now() == start and clock.now().tzinfo is UTC
    assert clock.advance(timedelta(hours=2)) == start + timedelta(hours=2) == clock.now()
    clock.set(datetime(2026, 10, 25, 1, tzinfo=UTC))
    assert clock.now() == datetime(2026, 10, 25, 1, tzinfo=UTC)


def test_clocks_refuse_naive_datetimes() -> None:
    with pytest.raises(ValueError):
        ManualClock(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        ManualClock(datetime(2026, 1, 1, tzinfo=UTC)).set(datetime(2026, 1, 2))
    with pytest.raises(ValueError):
        FixedClock(datetime(2026, 1, 1))


def test_every_clock_satisfies_the_protocol() -> None:
    def read(clock: Clock) -> datetime:
        return clock.now()

    fixed = datetime(2026, 1, 1, tzinfo=UTC)
    assert read(FixedClock(fixed)) == fixed == read(FixedClock(fixed))
    assert read(ManualClock(fixed)) == fixed
