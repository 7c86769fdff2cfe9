"""Send windows in local time, across midnight and daylight-saving transitions."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.channels.domain import SendWindow, is_within_quiet_window, next_window_start, resolve_time_zone

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
ALL_DAYS = frozenset(range(7))
SUNDAY = frozenset({6})


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_no_windows_means_no_restriction() -> None:
    at = utc(2024, 5, 6, 3, 0)
    assert is_within_quiet_window((), BERLIN, at)
    assert next_window_start((), BERLIN, at) == at


def test_inside_a_window_the_next_start_is_now() -> None:
    windows = (SendWindow(ALL_DAYS, time(9), time(17)),)
    at = datetime(2024, 5, 6, 12, 0, tzinfo=BERLIN)
    assert next_window_start(windows, BERLIN, at) == at.astimezone(UTC)


def test_window_start_is_inclusive_and_end_exclusive() -> None:
    windows = (SendWindow(ALL_DAYS, time(9), time(17)),)
    assert is_within_quiet_window(windows, BERLIN, datetime(2024, 5, 6, 9, 0, tzinfo=BERLIN))
    assert not is_within_quiet_window(windows, BERLIN, datetime(2024, 5, 6, 17, 0, tzinfo=BERLIN))


def test_weekdays_are_respected() -> None:
    mon_sat = (SendWindow(frozenset(range(6)), time(9), time(20)),)
    saturday_night = datetime(2024, 5, 4, 21, 0, tzinfo=BERLIN)
    assert next_window_start(mon_sat, BERLIN, saturday_night) == datetime(2024, 5, 6, 9, 0, tzinfo=BERLIN)


def test_window_crossing_midnight_belongs_to_its_start_day() -> None:
    friday_night = (SendWindow(frozenset({4}), time(22), time(2)),)
    assert is_within_quiet_window(friday_night, BERLIN, datetime(2024, 5, 4, 1, 30, tzinfo=BERLIN))  # Sat
    assert not is_within_quiet_window(friday_night, BERLIN, datetime(2024, 5, 5, 1, 30, tzinfo=BERLIN))  # Sun
    assert not is_within_quiet_window(friday_night, BERLIN, datetime(2024, 5, 3, 1, 30, tzinfo=BERLIN))  # Fri
    assert next_window_start(friday_night, BERLIN, datetime(2024, 5, 4, 3, 0, tzinfo=BERLIN)) == datetime(
        2024, 5, 10, 22, 0, tzinfo=BERLIN
    )


def test_equal_start_and_end_is_a_whole_day() -> None:
    monday = (SendWindow(frozenset({0}), time(0), time(0)),)
    assert is_within_quiet_window(monday, BERLIN, datetime(2024, 5, 6, 23, 59, tzinfo=BERLIN))
    assert not is_within_quiet_window(monday, BERLIN, datetime(2024, 5, 7, 0, 0, tzinfo=BERLIN))


def test_spring_forward_shifts_a_missing_start_to_the_first_instant_after_the_gap() -> None:
    # 2024-03-31 in Berlin: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
    windows = (SendWindow(SUNDAY, time(2, 30), time(5)),)
    opens = next_window_start(windows, BERLIN, utc(2024, 3, 30, 21, 0))
    assert opens == utc(2024, 3, 31, 1, 0)
    assert opens.astimezone(BERLIN).time() == time(3, 0)
    assert is_within_quiet_window(windows, BERLIN, opens)


def test_window_wholly_inside_the_spring_gap_is_skipped_that_day() -> None:
    windows = (SendWindow(SUNDAY, time(2, 15), time(2, 45)),)
    opens = next_window_start(windows, BERLIN, utc(2024, 3, 30, 21, 0))
    assert opens == datetime(2024, 4, 7, 2, 15, tzinfo=BERLIN)


def test_fall_back_uses_the_first_occurrence() -> None:
    # 2024-10-27 in Berlin: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    windows = (SendWindow(SUNDAY, time(2, 30), time(5)),)
    opens = next_window_start(windows, BERLIN, utc(2024, 10, 26, 21, 0))
    assert opens == utc(2024, 10, 27, 0, 30)  # 02:30 CEST
    assert opens.astimezone(BERLIN).fold == 0


def test_fall_back_reenters_a_window_when_the_clock_repeats_it() -> None:
    windows = (SendWindow(SUNDAY, time(2, 0), time(2, 30)),)
    after_first = utc(2024, 10, 27, 0, 45)  # 02:45 CEST, the first time round
    assert next_window_start(windows, BERLIN, after_first) == utc(2024, 10, 27, 1, 0)  # 02:00 CET


def test_new_york_spring_forward() -> None:
    # 2024-03-10: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    windows = (SendWindow(ALL_DAYS, time(2, 30), time(23)),)
    assert next_window_start(windows, NEW_YORK, utc(2024, 3, 10, 6, 0)) == utc(2024, 3, 10, 7, 0)


def test_lord_howe_half_hour_shift() -> None:
    # 2024-10-06: 02:00 +10:30 jumps to 02:30 +11:00 (15:30 UTC the day before).
    windows = (SendWindow(ALL_DAYS, time(2, 15), time(6)),)
    opens = next_window_start(windows, LORD_HOWE, utc(2024, 10, 5, 15, 0))
    assert opens == utc(2024, 10, 5, 15, 30)
    assert opens.astimezone(LORD_HOWE).time() == time(2, 30)


def test_resolve_time_zone_falls_back_to_utc() -> None:
    assert resolve_time_zone("Europe/Berlin") == BERLIN
    for bad in (None, "", "Nowhere/Special", "../../etc/passwd", "America"):
        assert resolve_time_zone(bad) is UTC


def test_result_is_utc_even_for_local_input() -> None:
    windows = (SendWindow(ALL_DAYS, time(9), time(17)),)
    opens = next_window_start(windows, BERLIN, datetime(2024, 5, 6, 18, 0, tzinfo=BERLIN))
    assert opens is not None and opens.tzinfo is UTC
    assert opens - datetime(2024, 5, 6, 18, 0, tzinfo=BERLIN) == timedelta(hours=15)
