"""Capacity rules in `decide()`: examples, and properties against a brute-force oracle written here.

The oracle never calls `CapacityRule.window_start` / `next_window_start`: it walks the time line in
15-minute steps (every offset of the zones below is a multiple of 15 minutes) and finds where the
local calendar label of the window (date and hour with its UTC offset, the date, or the ISO week)
changes.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.channels.domain import (
    CapacityRule,
    CapacityUsage,
    Category,
    ContactPolicyState,
    FrequencyCap,
    OutboundMessage,
    Outcome,
    PolicyRules,
    apply_capacity,
    capacity_keys,
    decide,
)
from tests.properties import examples
from tests.unit.channels import test_policy_properties as props

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday
STEP = timedelta(minutes=15)
CHANNELS = ("email", "sms", "call")
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "America/Santiago", "Australia/Lord_Howe")
# Instants near DST changes: Berlin / New York spring and autumn, Santiago (changes at local midnight),
# Lord Howe (30-minute changes); and a plain summer day.
AROUND = (
    datetime(2024, 3, 31, 1, 0, tzinfo=UTC), datetime(2024, 10, 27, 1, 0, tzinfo=UTC),
    datetime(2024, 3, 10, 7, 0, tzinfo=UTC), datetime(2024, 11, 3, 6, 0, tzinfo=UTC),
    datetime(2024, 4, 7, 3, 0, tzinfo=UTC), datetime(2024, 9, 8, 4, 0, tzinfo=UTC),
    datetime(2024, 4, 6, 15, 0, tzinfo=UTC), datetime(2024, 10, 5, 15, 30, tzinfo=UTC),
    datetime(2024, 7, 15, 12, 0, tzinfo=UTC),
)
OPEN = ContactPolicyState()


def rule(rule_id: str = "r", channel: str = "call", limit: int = 2, window: str = "day", zone: str = "UTC",
         when_full: str = "defer", category: str | None = None) -> CapacityRule:
    return CapacityRule(rule_id, channel, limit, window, zone, when_full, category)


def message(channel: str = "call", category: Category = Category.MARKETING, expires_at: datetime | None = None,
            contact_id: str = "c1") -> OutboundMessage:
    return OutboundMessage(channel, category, contact_id, expires_at=expires_at)


# --- examples -------------------------------------------------------------------------------------

def test_a_full_window_defers_to_the_next_window_with_reason_capacity_and_the_rule_id():
    daily = rule(zone="Europe/Amsterdam")
    rules = PolicyRules(capacity=(daily,))
    usage = CapacityUsage({daily.key(NOW): 2})
    decision = decide(message(), OPEN, rules, NOW, usage)
    assert (decision.outcome, decision.reason, decision.rule_id) == (Outcome.DEFER, "capacity", "r")
    assert decision.defer_until == datetime(2026, 3, 4, 23, 0, tzinfo=UTC)  # midnight in Amsterdam (+01:00)
    assert "2 of 2" in decision.detail
    assert decide(message(), OPEN, rules, NOW, CapacityUsage({daily.key(NOW): 1})).outcome is Outcome.SEND


def test_when_full_expire_expires_and_a_message_expiring_before_the_next_window_expires_too():
    full = CapacityUsage({("r", datetime(2026, 3, 4, tzinfo=UTC)): 2})
    expire = PolicyRules(capacity=(rule(when_full="expire"),))
    assert (decide(message(), OPEN, expire, NOW, full).outcome, decide(message(), OPEN, expire, NOW, full).reason) \
        == (Outcome.EXPIRE, "capacity")
    defer = PolicyRules(capacity=(rule(),))
    soon = message(expires_at=datetime(2026, 3, 5, 0, 0, tzinfo=UTC))  # exactly at the next window
    assert decide(soon, OPEN, defer, NOW, full).outcome is Outcome.EXPIRE
    later = message(expires_at=datetime(2026, 3, 5, 0, 1, tzinfo=UTC))
    assert decide(later, OPEN, defer, NOW, full).outcome is Outcome.DEFER


def test_capacity_matches_channel_and_category_and_never_transactional():
    only_marketing = rule(category="marketing", limit=0)
    rules = PolicyRules(capacity=(only_marketing,))
    assert decide(message(), OPEN, rules, NOW).outcome is Outcome.DEFER
    assert decide(message(category=Category.SERVICE), OPEN, rules, NOW).outcome is Outcome.SEND
    assert decide(message(channel="sms"), OPEN, rules, NOW).outcome is Outcome.SEND
    any_category = PolicyRules(capacity=(rule(limit=0),))
    assert decide(message(category=Category.SERVICE), OPEN, any_category, NOW).outcome is Outcome.DEFER
    assert decide(message(category=Category.TRANSACTIONAL), OPEN, any_category, NOW).outcome is Outcome.SEND
    assert capacity_keys(message(category=Category.TRANSACTIONAL), any_category.capacity, NOW) == ()
    with pytest.raises(ValueError, match="transactional"):
        rule(category="transactional")


def test_the_first_full_rule_in_the_policys_order_decides_and_a_send_takes_a_unit_of_each():
    hourly, daily = rule("hourly", limit=5, window="hour"), rule("daily", limit=1, window="day")
    rules = PolicyRules(capacity=(hourly, daily))
    usage = apply_capacity(CapacityUsage(), message(), decide(message(), OPEN, rules, NOW), rules, NOW)
    assert usage.used == {hourly.key(NOW): 1, daily.key(NOW): 1}
    second = decide(message(), OPEN, rules, NOW, usage)
    assert (second.outcome, second.rule_id) == (Outcome.DEFER, "daily")
    assert apply_capacity(usage, message(), second, rules, NOW) == usage


def test_the_contacts_own_rules_come_first_so_a_capped_message_never_waits_for_capacity():
    rules = PolicyRules(caps=(FrequencyCap("none", 0, timedelta(days=1)),), capacity=(rule(limit=0),))
    assert decide(message(), OPEN, rules, NOW).outcome is Outcome.CAP


@pytest.mark.parametrize(("window", "zone", "at", "start", "following"), [
    ("hour", "Asia/Kolkata", "2026-03-04T12:10Z", "2026-03-04T11:30Z", "2026-03-04T12:30Z"),
    ("day", "America/New_York", "2026-03-04T03:00Z", "2026-03-03T05:00Z", "2026-03-04T05:00Z"),
    ("week", "UTC", "2026-03-04T12:00Z", "2026-03-02T00:00Z", "2026-03-09T00:00Z"),
    # Berlin's autumn change: the day lasts 25 hours, and 02:00-03:00 happens twice (two hour windows)
    ("day", "Europe/Berlin", "2024-10-27T12:00Z", "2024-10-26T22:00Z", "2024-10-27T23:00Z"),
    ("hour", "Europe/Berlin", "2024-10-27T00:30Z", "2024-10-27T00:00Z", "2024-10-27T01:00Z"),
    ("hour", "Europe/Berlin", "2024-10-27T01:30Z", "2024-10-27T01:00Z", "2024-10-27T02:00Z"),
])
def test_calendar_windows(window, zone, at, start, following):
    capacity = rule(window=window, zone=zone)
    moment = datetime.fromisoformat(at)
    assert capacity.window_start(moment) == datetime.fromisoformat(start)
    assert capacity.next_window_start(moment) == datetime.fromisoformat(following)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", " UTC", "../etc/passwd", "Europe/Amsterdam ", "localtime",
                                  "right/UTC", "posix/Europe/Berlin", "zone.tab", "Europe", "a" * 300])
def test_an_unknown_time_zone_is_refused(zone):
    with pytest.raises(ValueError):
        rule(zone=zone)


def test_rule_ids_are_unique():
    with pytest.raises(ValueError, match="unique"):
        PolicyRules(capacity=(rule("a"), rule("a", channel="sms")))


# --- the oracle -----------------------------------------------------------------------------------

def _label(moment: datetime, window: str, zone: str) -> tuple:
    local = moment.astimezone(ZoneInfo(zone))
    if window == "hour":
        return (local.date(), local.hour, local.utcoffset())
    if window == "day":
        return (local.date(),)
    return tuple(local.isocalendar()[:2])


def _floor15(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment - timedelta(minutes=moment.minute % 15, seconds=moment.second, microseconds=moment.microsecond)


def oracle_window(moment: datetime, window: str, zone: str) -> tuple[datetime, datetime]:
    """[start, next start) of the window holding `moment`, found by walking 15-minute steps."""
    label = _label(moment, window, zone)
    start = _floor15(moment)
    while _label(start - STEP, window, zone) == label:
        start -= STEP
    following = _floor15(moment) + STEP
    while _label(following, window, zone) == label:
        following += STEP
    return start, following


instants = st.builds(lambda base, minutes, seconds: base + timedelta(minutes=minutes, seconds=seconds),
                     st.sampled_from(AROUND), st.integers(-8 * 1440, 8 * 1440), st.sampled_from([0, 0, 1, 59.5]))
capacity_rules = st.builds(
    lambda window, zone, when_full, channel, category, limit: (window, zone, when_full, channel, category, limit),
    st.sampled_from(["hour", "day", "week"]), st.sampled_from(ZONES), st.sampled_from(["defer", "expire"]),
    st.sampled_from(CHANNELS), st.sampled_from([None, "service", "marketing"]), st.integers(0, 3))


def oracle_zone(window: str, zone: str) -> str:
    """The zone the label oracle can judge: Lord Howe's 30-minute change splits an hour by offset, where the
    rule keeps the local hour and the oracle's labels would see two windows; a half-hour zone stands in."""
    return "Asia/Kolkata" if zone == "Australia/Lord_Howe" and window == "hour" else zone


@settings(max_examples=examples(400), deadline=None)
@given(instants, st.sampled_from(["hour", "day", "week"]), st.sampled_from(ZONES))
def test_window_bounds_match_the_oracle(moment, window, zone):
    zone = oracle_zone(window, zone)
    capacity = rule(window=window, zone=zone)
    start, following = oracle_window(moment, window, zone)
    assert capacity.window_start(moment) == start
    assert capacity.next_window_start(moment) == following
    assert capacity.window_start(following) == following  # windows tile the time line


@settings(max_examples=examples(500), deadline=None)
@given(st.lists(capacity_rules, min_size=1, max_size=3), st.lists(st.integers(0, 4), min_size=3, max_size=3),
       st.sampled_from(CHANNELS), st.sampled_from(list(Category)), instants,
       st.one_of(st.none(), st.integers(-60, 9 * 1440)))
def test_decide_matches_the_capacity_oracle(specs, used, channel, category, now, expires_in):
    rules = tuple(CapacityRule(f"r{i}", ch, limit, window, oracle_zone(window, zone), when_full, cat)
                  for i, (window, zone, when_full, ch, cat, limit) in enumerate(specs))
    expires_at = None if expires_in is None else now + timedelta(minutes=expires_in)
    msg = OutboundMessage(channel, category, "c1", expires_at=expires_at)
    usage = CapacityUsage({(r.id, oracle_window(now, r.window.value, r.time_zone)[0]): used[i]
                           for i, r in enumerate(rules)})
    decision = decide(msg, OPEN, PolicyRules(capacity=rules), now, usage)
    # the oracle: expired first; then the first rule (in order) that applies and is full decides
    if expires_at is not None and expires_at <= now:
        assert decision.outcome is Outcome.EXPIRE and decision.reason == "expired"
        return
    for i, r in enumerate(rules):
        applies = (category is not Category.TRANSACTIONAL and channel == r.channel
                   and (r.category is None or r.category is category))
        if applies and used[i] >= r.limit:
            following = oracle_window(now, r.window.value, r.time_zone)[1]
            assert (decision.reason, decision.rule_id) == ("capacity", r.id)
            if r.when_full.value == "expire" or (expires_at is not None and expires_at <= following):
                assert decision.outcome is Outcome.EXPIRE
            else:
                assert (decision.outcome, decision.defer_until) == (Outcome.DEFER, following)
            return
    assert decision.outcome is Outcome.SEND


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(capacity_rules, min_size=1, max_size=3),
       st.lists(st.tuples(st.sampled_from(CHANNELS), st.sampled_from(list(Category)), st.integers(0, 180)),
                max_size=30),
       st.sampled_from(AROUND))
def test_a_stream_never_takes_more_than_a_windows_limit(specs, stream, start):
    """Messages decided one after another (as the gate does under the counters' lock) never send more
    than `limit` in any rule's window, and each message held back names a rule whose window was full."""
    rules = PolicyRules(capacity=tuple(CapacityRule(f"r{i}", ch, limit, window, oracle_zone(window, zone), when_full,
                                                    cat)
                                       for i, (window, zone, when_full, ch, cat, limit) in enumerate(specs)))
    usage = CapacityUsage()
    held = {r.id: r for r in rules.capacity}
    sent: dict[tuple[str, datetime], int] = {}
    now = start
    for index, (channel, category, minutes) in enumerate(stream):
        now += timedelta(minutes=minutes)
        msg = OutboundMessage(channel, category, f"c{index}")
        decision = decide(msg, OPEN, rules, now, usage)
        usage = apply_capacity(usage, msg, decision, rules, now)
        if decision.outcome is Outcome.SEND:
            for r in rules.capacity:
                if category is not Category.TRANSACTIONAL and channel == r.channel and r.category in (None, category):
                    key = (r.id, oracle_window(now, r.window.value, r.time_zone)[0])
                    sent[key] = sent.get(key, 0) + 1
        else:
            r = held[decision.rule_id]
            assert sent.get((r.id, oracle_window(now, r.window.value, r.time_zone)[0]), 0) == r.limit
    for (rule_id, _), count in sent.items():
        assert count <= held[rule_id].limit


@settings(max_examples=examples(1000), deadline=None)
@given(base=props.any_messages, now=props.instants, zone=st.sampled_from(props.ZONES),
       suppression_spec=props.suppression_specs, touch_spec=props.touch_specs, consents=props.consent_maps,
       specs=st.lists(capacity_rules, max_size=3), used=st.lists(st.integers(0, 4), min_size=3, max_size=3))
def test_capacity_only_holds_back_what_every_other_rule_would_send(base, now, zone, suppression_spec, touch_spec,
                                                                   consents, specs, used):
    """With the shipped defaults and any contact, adding capacity rules changes a decision only from `send`
    to a capacity deferral or expiry, and only when an applicable rule's window is full."""
    message = OutboundMessage(base.channel, base.category, "c1", base.campaign_id, base.topic, base.priority)
    state = ContactPolicyState(zone, consents, props.make_suppressions(suppression_spec, now),
                               props.make_touches(touch_spec, now))
    without = PolicyRules.defaults()
    capacity = tuple(CapacityRule(f"r{i}", ch, limit, window, tz, when_full, cat)
                     for i, (window, tz, when_full, ch, cat, limit) in enumerate(specs))
    usage = CapacityUsage({rule.key(now): used[i] for i, rule in enumerate(capacity)})
    before = decide(message, state, without, now)
    after = decide(message, state, dataclasses.replace(without, capacity=capacity), now, usage)
    full = [r for i, r in enumerate(capacity) if r.applies_to(message) and used[i] >= r.limit]
    if before.outcome is Outcome.SEND and full:
        assert (after.outcome, after.reason, after.rule_id) in {(Outcome.DEFER, "capacity", full[0].id),
                                                                (Outcome.EXPIRE, "capacity", full[0].id)}
    else:
        assert after == before
