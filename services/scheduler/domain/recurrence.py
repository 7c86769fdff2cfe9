"""When a broadcast schedule fires next: once at a time, or a cron expression in an IANA time zone.

The next-fire computation is APScheduler's `CronTrigger`, evaluated against an instant we pass
in (never its own clock), so DST transitions are testable with a fixed "now". Across DST the
trigger keeps wall-clock time: `0 9 * * *` in Europe/Berlin is 09:00 local on both sides of the
change (07:00 UTC in summer, 08:00 UTC in winter). A local time that does not exist (02:30 on the
spring-forward day) fires as if the clock had not jumped (01:30 UTC, 03:30 local); one that
exists twice (02:30 on the fall-back day) fires once, at its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

_TICK = timedelta(microseconds=1)
_MINUTE = timedelta(minutes=1)


class InvalidSchedule(ValueError):
    """A schedule definition that can never fire (bad cron, unknown zone, neither or both of at/cron)."""


def zone(name: str) -> ZoneInfo:
    """The IANA zone called `name`, or InvalidSchedule."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidSchedule(f"unknown time zone {name!r}") from exc


def trigger(cron: str, timezone: str) -> CronTrigger:
    """APScheduler's trigger for a five-field crontab expression in `timezone`."""
    if len(cron.split()) != 5:
        raise InvalidSchedule(f"cron {cron!r} must have five fields (minute hour day month weekday)")
    tz = zone(timezone)
    try:
        return CronTrigger.from_crontab(cron, timezone=tz)
    except ValueError as exc:
        raise InvalidSchedule(f"cron {cron!r} is invalid: {exc}") from exc


@dataclass(frozen=True)
class Recurrence:
    """A broadcast schedule's timing: exactly one of `at` (one time) and `cron` (in `timezone`)."""

    at: datetime | None = None
    cron: str | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.at is None) == (self.cron is None):
            raise InvalidSchedule("exactly one of 'at' and 'cron' is required")
        if self.at is not None and self.at.tzinfo is None:
            raise InvalidSchedule("'at' must carry a time zone offset")
        zone(self.timezone)
        if self.cron is not None:
            trigger(self.cron, self.timezone)


def _repeated_wall_time(moment: datetime, tz: ZoneInfo) -> bool:
    """Whether `moment` is the second pass of a local time that occurs twice (fall-back fold)."""
    local = moment.astimezone(tz)
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()


def _past_fold(moment: datetime, tz: ZoneInfo) -> datetime:
    """The first whole minute after `moment` whose local time is not a repeated one."""
    probe = moment.replace(second=0, microsecond=0) + _MINUTE
    for _ in range(24 * 60):  # a fold lasts an hour (30 minutes in a few zones)
        if not _repeated_wall_time(probe, tz):
            return probe
        probe += _MINUTE
    return probe


def cron_fire_at_or_after(cron: str, timezone: str, instant: datetime) -> datetime | None:
    """The first fire time of `cron` in `timezone` at or after `instant` (aware); None if it never fires.

    APScheduler 3 (with zoneinfo) returns the second pass of a repeated local time on a fall-back
    day, and asked again from just after it returns that same, already past, instant. We skip the
    repeated hour instead: every local time fires once, and time always moves forward.
    """
    trig, tz = trigger(cron, timezone), zone(timezone)
    probe = instant
    for _ in range(64):
        candidate = trig.get_next_fire_time(None, probe)
        if candidate is None:
            return None
        if candidate >= instant and not _repeated_wall_time(candidate, tz):
            return candidate
        probe = _past_fold(max(candidate, probe), tz)
    raise InvalidSchedule(f"cron {cron!r} in {timezone} does not advance")


def next_fire(recurrence: Recurrence, now: datetime, last_fired_at: datetime | None) -> datetime | None:
    """When a (new or changed) schedule should fire next; None means never again.

    A one-time schedule fires at `at` unless it already fired for that instant, so a repeated
    upsert never fires it twice; an `at` in the past still fires once, as overdue. A cron
    schedule fires at its first occurrence from now on, never again for one that already fired.
    """
    if recurrence.at is not None:
        if last_fired_at is not None and last_fired_at >= recurrence.at:
            return None
        return recurrence.at
    assert recurrence.cron is not None
    start = now if last_fired_at is None or last_fired_at < now else last_fired_at + _TICK
    return cron_fire_at_or_after(recurrence.cron, recurrence.timezone, start)


def after_firing(recurrence: Recurrence, fired_for: datetime, now: datetime) -> datetime | None:
    """The next fire time once the occurrence due at `fired_for` was published at `now`.

    Occurrences missed while no scheduler ran are not replayed one by one: the overdue one fires
    once (a broadcast sent three times in a row helps nobody), then the schedule moves past now.
    """
    if recurrence.at is not None:
        return None
    assert recurrence.cron is not None
    return cron_fire_at_or_after(recurrence.cron, recurrence.timezone, max(fired_for, now) + _TICK)
