"""Durations and DST-correct local times of day."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.campaigns.domain.durations import next_local_time, parse_duration, parse_time_of_day

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3d", timedelta(days=3)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "3", "d3", "3 days", "-1d", "0d", "1.5h", "3y", None, "99999999999999d", "3661d"]
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_parse_time_of_day() -> None:
    assert parse_time_of_day("09:00") == time(9, 0)
    for bad in ("9:00", "24:00", "09:60", "0900", "noon"):
        with pytest.raises(ValueError, match="invalid time of day"):
            parse_time_of_day(bad)


def test_next_local_time_later_today_or_tomorrow() -> None:
    before = datetime(2024, 5, 6, 6, 0, tzinfo=UTC)  # 08:00 in Berlin (CEST, +2)
    after = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)  # 10:00 in Berlin

    assert next_local_time(time(9), "Europe/Berlin", before) == datetime(2024, 5, 6, 7, 0, tzinfo=UTC)
    assert next_local_time(time(9), "Europe/Berlin", after) == datetime(2024, 5, 7, 7, 0, tzinfo=UTC)


def test_exactly_at_the_time_means_the_next_day() -> None:
    now = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)  # 09:00 in Berlin

    assert next_local_time(time(9), "Europe/Berlin", now) == datetime(2024, 5, 7, 7, 0, tzinfo=UTC)


def test_wall_clock_stays_at_nine_across_spring_forward() -> None:
    # Saturday 30 March 2024, 10:00 CET; clocks go forward on Sunday 31 March at 02:00.
    now = datetime(2024, 3, 30, 10, 0, tzinfo=BERLIN)

    due = next_local_time(time(9), "Europe/Berlin", now)

    assert due.astimezone(BERLIN).replace(tzinfo=None) == datetime(2024, 3, 31, 9, 0)
    assert due == datetime(2024, 3, 31, 7, 0, tzinfo=UTC)  # CEST: only 22 hours later
    assert due - now == timedelta(hours=22)


def test_wall_clock_stays_at_nine_across_fall_back() -> None:
    now = datetime(2024, 10, 26, 10, 0, tzinfo=BERLIN)  # clocks go back on 27 October

    due = next_local_time(time(9), "Europe/Berlin", now)

    assert due == datetime(2024, 10, 27, 8, 0, tzinfo=UTC)  # CET again
    assert due - now == timedelta(hours=24)  # as wall clocks differ by 23h, the elapsed time is 24h


def test_a_time_inside_the_spring_forward_gap_falls_forward_by_the_gap() -> None:
    now = datetime(2024, 3, 30, 12, 0, tzinfo=BERLIN)  # 02:30 does not exist on 31 March

    due = next_local_time(time(2, 30), "Europe/Berlin", now)

    assert due == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)  # 03:30 CEST


def test_a_time_that_occurs_twice_means_its_first_occurrence() -> None:
    now = datetime(2024, 10, 26, 12, 0, tzinfo=BERLIN)  # 02:30 happens twice on 27 October

    due = next_local_time(time(2, 30), "Europe/Berlin", now)

    assert due == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # 02:30 CEST, the earlier one


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_local_time(time(9), "Europe/Berlin", datetime(2024, 1, 1))
