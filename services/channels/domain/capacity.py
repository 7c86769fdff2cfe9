"""Capacity rules: at most ``limit`` messages per calendar window on a channel, for all contacts together.

"At most 150 call-center tasks per day", "at most 20,000 SMS per hour": unlike a frequency cap, which
counts one contact's touches in a rolling window, a capacity rule counts every contact's touches in a
calendar window (the hour, day or ISO week, Monday first, of the rule's IANA time zone). A window is
half-open ``[start, next start)``; ``start`` is the instant the local hour / day / week begins, so a
day across a DST change lasts 23 or 25 hours, and a local hour that occurs twice (the autumn change)
is two windows.

The gate knows the count of each rule's current window (`CapacityUsage`, keyed by
``(rule id, window start)``), loaded under a lock on the counter rows, and `check_capacity` decides
on it; a send then takes one unit of every rule that applies to it (`capacity_keys`). A rule whose
window is full defers the message to the start of the next window (``when_full = "defer"``; expired
instead if the message expires first) or expires it (``"expire"``). Transactional messages are never
subject to capacity and never counted, like frequency caps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache, lru_cache
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from services.channels.domain.model import Category, Decision, OutboundMessage, Outcome

CAPACITY_REASON = "capacity"

# (rule id, start of the rule's window in UTC): one counter row per key.
CapacityKey = tuple[str, datetime]


class CapacityWindow(StrEnum):
    """The calendar window a capacity rule counts in, in the rule's time zone."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"  # ISO week: Monday 00:00 to the next Monday 00:00


class WhenFull(StrEnum):
    """What happens to a message that finds its capacity used up."""

    DEFER = "defer"  # to the start of the next window (expired instead if it expires before)
    EXPIRE = "expire"  # at once


_NOMINAL = {CapacityWindow.HOUR: timedelta(hours=1), CapacityWindow.DAY: timedelta(days=1),
            CapacityWindow.WEEK: timedelta(days=7)}
_STEP = timedelta(minutes=15)  # every UTC offset in the tz database is a multiple of 15 minutes


@cache
def _known_zones() -> frozenset[str]:
    # The tz database's names; not the machine's own `localtime` (it differs from host to host), nor the
    # `posix/` and `right/` copies (the latter counts leap seconds).
    return frozenset(available_timezones()) - {"localtime", "posixrules"}


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ValueError when the tz database has none of that name."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise ValueError("time_zone must be an IANA time zone name such as 'Europe/Amsterdam'")
    known = _known_zones()  # empty only without any tz data, where ZoneInfo below refuses every name anyway
    try:
        if known and name not in known:
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as 'Europe/Amsterdam'") from exc


# The gate and a forecast ask for the same few (moment, window, zone) triples for every message of a batch
# (a 100,000-member forecast decides them all at one `now`): remembered, the zone arithmetic runs once.
@lru_cache(maxsize=4096)
def _floor_local(moment: datetime, window: CapacityWindow, tz: ZoneInfo) -> datetime:
    local = moment.astimezone(tz)
    if window is CapacityWindow.HOUR:
        # keeps the fold, so each of the two 01:00 hours of an autumn change is its own window
        return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    day = local.date()
    if window is CapacityWindow.WEEK:
        day -= timedelta(days=day.weekday())
    # Midnight may not exist (a spring change at 00:00): fold=0 maps it to the transition instant,
    # which is when that day really begins.
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class CapacityRule:
    """At most ``limit`` touches on ``channel`` (of ``category``, or of every non-transactional one)
    per ``window`` in ``time_zone``, for all contacts together."""

    id: str
    channel: str
    limit: int
    window: CapacityWindow
    time_zone: str
    when_full: WhenFull = WhenFull.DEFER
    category: Category | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError("capacity rule id must be a non-empty str")
        if not isinstance(self.channel, str) or not self.channel:
            raise ValueError(f"capacity {self.id!r}: channel must be a non-empty str")
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 0:
            raise ValueError(f"capacity {self.id!r}: limit must be an int >= 0")
        object.__setattr__(self, "window", CapacityWindow(self.window))
        object.__setattr__(self, "when_full", WhenFull(self.when_full))
        zone(self.time_zone)
        if self.category is not None:
            category = Category(self.category)
            if category is Category.TRANSACTIONAL:
                # Transactional messages bypass capacity, so a rule on them could never hold.
                raise ValueError(f"capacity {self.id!r}: transactional messages are never held back by capacity")
            object.__setattr__(self, "category", category)

    def applies_to(self, message: OutboundMessage) -> bool:
        """True when ``message`` is subject to (and, sent, counted by) this rule."""
        return (message.category is not Category.TRANSACTIONAL and message.channel == self.channel
                and (self.category is None or message.category is self.category))

    def window_start(self, moment: datetime) -> datetime:
        """The UTC instant the window holding ``moment`` began."""
        return _floor_local(moment, self.window, ZoneInfo(self.time_zone))  # ZoneInfo caches its zones

    def next_window_start(self, moment: datetime) -> datetime:
        """The UTC instant the window after the one holding ``moment`` begins."""
        return _next_window_start(self, moment)

    def key(self, moment: datetime) -> CapacityKey:
        """The counter key of the window holding ``moment``."""
        return (self.id, self.window_start(moment))


@lru_cache(maxsize=1024)
def _next_window_start(rule: CapacityRule, moment: datetime) -> datetime:
    # Remembered as `_floor_local`: every message a full window defers asks for the same instant.
    start = rule.window_start(moment)
    probe = start + _NOMINAL[rule.window] - _STEP  # inside the window or the next, never past the next
    while True:
        probe += _STEP
        following = rule.window_start(probe)
        if following > start:
            return following


@dataclass(frozen=True, slots=True)
class CapacityUsage:
    """How many units of each (rule, window) are taken; a key not present is unused."""

    used: Mapping[CapacityKey, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "used", MappingProxyType(dict(self.used)))

    def of(self, key: CapacityKey) -> int:
        """Units taken of ``key``."""
        return self.used.get(key, 0)

    def plus(self, keys: Iterable[CapacityKey]) -> CapacityUsage:
        """The usage after one more unit of each of ``keys`` was taken."""
        used = dict(self.used)
        for key in keys:
            used[key] = used.get(key, 0) + 1
        return CapacityUsage(used)


NO_USAGE = CapacityUsage()


def capacity_keys(message: OutboundMessage, rules: Iterable[CapacityRule], now: datetime) -> tuple[CapacityKey, ...]:
    """The counters a send of ``message`` at ``now`` takes one unit of: every rule that applies."""
    return tuple(rule.key(now) for rule in rules if rule.applies_to(message))


def check_capacity(message: OutboundMessage, rules: Iterable[CapacityRule], usage: CapacityUsage,
                   now: datetime) -> Decision | None:
    """The decision of the first applicable rule (in the policy's order) whose window is full, if any."""
    for rule in rules:
        if not rule.applies_to(message):
            continue
        used = usage.of(rule.key(now))
        if used < rule.limit:
            continue
        scope = rule.channel if rule.category is None else f"{rule.category.value} {rule.channel}"
        full = (f"capacity {rule.id} is full: {used} of {rule.limit} {scope} messages this {rule.window.value} "
                f"({rule.time_zone})")
        opens = rule.next_window_start(now)
        next_text = f"the next {rule.window.value} starts {opens.astimezone(ZoneInfo(rule.time_zone)):%a %Y-%m-%d %H:%M %Z}"
        if rule.when_full is WhenFull.EXPIRE:
            return Decision(Outcome.EXPIRE, CAPACITY_REASON, rule_id=rule.id, detail=f"{full}; the rule expires it")
        if message.expires_at is not None and message.expires_at.astimezone(UTC) <= opens:
            return Decision(Outcome.EXPIRE, CAPACITY_REASON, rule_id=rule.id,
                            detail=f"{full} and the message expires before {next_text}")
        return Decision(Outcome.DEFER, CAPACITY_REASON, rule_id=rule.id, defer_until=opens,
                        detail=f"{full}; deferred until {next_text}")
    return None
