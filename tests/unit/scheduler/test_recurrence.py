"""Next-fire computation of broadcast schedules, across DST changes, with a fixed "now"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.scheduler.domain.recurrence import InvalidSchedule, Recurrence, after_firing, next_fire
from tests.properties import examples

BERLIN = ZoneInfo("Europe/Berlin")
DAILY_NINE = Recurrence(cron="0 9 * * *", timezone="Europe/Berlin")


def fires(recurrence: Recurrence, start: datetime, count: int) -> list[datetime]:
    """The next `count` firings, advancing as the poll job does."""
    first = next_fire(recurrence, start, None)
    out = [first]
    while len(out) < count:
        out.append(after_firing(recurrence, out[-1], out[-1]))
    return out


@pytest.mark.parametrize("change_day", [datetime(2026, 3, 29), datetime(2026, 10, 25)])
def test_daily_nine_oclock_berlin_stays_nine_local_across_dst(change_day):
    start = (change_day - timedelta(days=2)).replace(hour=12, tzinfo=UTC)
    times = fires(DAILY_NINE, start, 5)
    local = [t.astimezone(BERLIN) for t in times]
    assert [(t.hour, t.minute) for t in local] == [(9, 0)] * 5
    assert [t.date() for t in local] == [(change_day + timedelta(days=d)).date() for d in range(-1, 4)]


def test_utc_hour_shifts_by_the_offset_change():
    spring = fires(DAILY_NINE, datetime(2026, 3, 28, 0, tzinfo=UTC), 2)
    assert [t.astimezone(UTC).hour for t in spring] == [8, 7]  # CET then CEST
    autumn = fires(DAILY_NINE, datetime(2026, 10, 24, 0, tzinfo=UTC), 2)
    assert [t.astimezone(UTC).hour for t in autumn] == [7, 8]  # CEST then CET


def test_nonexistent_local_time_on_spring_forward_fires_once_after_the_gap():
    nightly = Recurrence(cron="30 2 * * *", timezone="Europe/Berlin")
    times = fires(nightly, datetime(2026, 3, 28, 12, tzinfo=UTC), 3)
    assert times[1].astimezone(UTC) - times[0].astimezone(UTC) == timedelta(hours=23)
    assert times[0].astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert times[2].astimezone(BERLIN).hour == 2


def test_repeated_local_time_on_fall_back_fires_once():
    nightly = Recurrence(cron="30 2 * * *", timezone="Europe/Berlin")
    times = fires(nightly, datetime(2026, 10, 24, 12, tzinfo=UTC), 3)
    assert [t.astimezone(BERLIN).day for t in times] == [25, 26, 27]
    assert times[0].astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # first 02:30 (CEST)


def test_first_fire_may_be_now_and_never_repeats_a_fired_occurrence():
    now = datetime(2026, 6, 1, 7, 0, tzinfo=UTC)  # 09:00 Berlin summer time
    assert next_fire(DAILY_NINE, now, None) == now
    assert next_fire(DAILY_NINE, now, now) == now + timedelta(days=1)


def test_overdue_cron_fires_once_then_moves_past_now():
    missed = datetime(2026, 6, 1, 7, 0, tzinfo=UTC)
    now = missed + timedelta(days=3, hours=2)
    following = after_firing(DAILY_NINE, missed, now)
    assert following == datetime(2026, 6, 5, 7, 0, tzinfo=UTC)


def test_one_time_schedule_fires_once_even_when_upserted_again():
    at = datetime(2026, 5, 1, 10, tzinfo=UTC)
    once = Recurrence(at=at)
    assert next_fire(once, at - timedelta(days=1), None) == at
    assert next_fire(once, at + timedelta(days=1), None) == at  # overdue: still fires
    assert next_fire(once, at + timedelta(days=1), at) is None
    assert after_firing(once, at, at) is None


@pytest.mark.parametrize("kwargs, message", [
    ({}, "exactly one"),
    ({"at": datetime(2026, 1, 1, tzinfo=UTC), "cron": "0 9 * * *"}, "exactly one"),
    ({"cron": "0 9 * *"}, "five fields"),
    ({"cron": "61 9 * * *"}, "invalid"),
    ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"at": datetime(2026, 1, 1)}, "offset"),
])
def test_invalid_schedules_are_refused(kwargs, message):
    with pytest.raises(InvalidSchedule, match=message):
        Recurrence(**kwargs)


@settings(max_examples=examples(150), deadline=None)
@given(start=st.datetimes(min_value=datetime(2026, 3, 20), max_value=datetime(2026, 11, 5), timezones=st.just(UTC)),
       cron=st.sampled_from(["30 2 * * *", "*/20 1-3 * * *", "0 9 * * *", "15 * * * 0"]),
       timezone=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]))
def test_firings_strictly_advance_and_never_repeat_a_local_time(start, cron, timezone):
    recurrence = Recurrence(cron=cron, timezone=timezone)
    times = fires(recurrence, start, 8)
    assert times[0] >= start
    assert all(a < b for a, b in zip(times, times[1:], strict=False))
    walls = [t.astimezone(ZoneInfo(timezone)).replace(tzinfo=None, fold=0) for t in times]
    assert len(set(walls)) == len(walls)
