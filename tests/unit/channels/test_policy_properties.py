"""Property tests: the gate's invariants over random contacts, rules and message streams.

Each property checks ``decide`` against a brute-force oracle written independently here,
never against the helpers of the module under test.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from services.channels.domain import (
    CapScope,
    Category,
    ContactPolicyState,
    ControlGroup,
    FrequencyCap,
    OutboundMessage,
    Outcome,
    PolicyRules,
    QuietHours,
    SendWindow,
    Suppression,
    SuppressionReason,
    Touch,
    TouchState,
    decide,
)
from tests.properties import examples

CHANNELS = ("email", "sms", "call", "web")
CAMPAIGNS = (None, "c1", "c2")
TOPICS = (None, "mortgage", "loans")
ZONES = ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata")
HARD = {"bounced", "complained", "do_not_call", "stop", "legal", "erased", "merged"}

# Instants around the 2024/2025 DST transitions of the zones above (Kolkata has none).
TRANSITIONS = (
    datetime(2024, 3, 31, 1, 0, tzinfo=UTC),  # Berlin spring forward
    datetime(2024, 10, 27, 1, 0, tzinfo=UTC),  # Berlin fall back
    datetime(2024, 3, 10, 7, 0, tzinfo=UTC),  # New York spring forward
    datetime(2024, 11, 3, 6, 0, tzinfo=UTC),  # New York fall back
    datetime(2024, 4, 6, 15, 0, tzinfo=UTC),  # Lord Howe fall back (+11 -> +10:30)
    datetime(2024, 10, 5, 15, 30, tzinfo=UTC),  # Lord Howe spring forward (+10:30 -> +11)
    datetime(2025, 3, 30, 1, 0, tzinfo=UTC),
    datetime(2024, 7, 15, 12, 0, tzinfo=UTC),  # no transition nearby
)
SPRING_FORWARD = {
    "Europe/Berlin": datetime(2024, 3, 31, 1, 0, tzinfo=UTC),
    "America/New_York": datetime(2024, 3, 10, 7, 0, tzinfo=UTC),
    "Australia/Lord_Howe": datetime(2024, 10, 5, 15, 30, tzinfo=UTC),
    "Asia/Kolkata": datetime(2024, 5, 6, 0, 0, tzinfo=UTC),  # none; a plain week
}
QUARTER = timedelta(minutes=15)
START = datetime(2024, 5, 6, 0, 0, tzinfo=UTC)

instants = st.builds(
    lambda base, minutes, seconds: base + timedelta(minutes=minutes, seconds=seconds),
    st.sampled_from(TRANSITIONS),
    st.integers(-4 * 1440, 4 * 1440),
    st.sampled_from([0, 0, 0, 1, 59.5]),
)
quarter_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
send_windows = st.builds(
    SendWindow, st.frozensets(st.integers(0, 6), min_size=1), quarter_times, quarter_times
)
window_lists = st.lists(send_windows, max_size=3).map(tuple)
categories = st.sampled_from(list(Category))


_CAP_VALUES = {
    CapScope.ALL: st.none(),
    CapScope.CHANNEL: st.sampled_from(CHANNELS),
    CapScope.CATEGORY: st.sampled_from(["service", "marketing"]),
    CapScope.CAMPAIGN: st.sampled_from(["c1", "c2"]),
}


@st.composite
def caps(draw: st.DrawFn) -> tuple[FrequencyCap, ...]:
    result = []
    for index in range(draw(st.integers(1, 4))):
        scope = draw(st.sampled_from(list(CapScope)))
        window = timedelta(minutes=draw(st.one_of(st.integers(1, 3 * 1440), st.sampled_from([1440, 2880]))))
        result.append(
            FrequencyCap(f"cap{index}", draw(st.integers(0, 3)), window, scope, draw(_CAP_VALUES[scope]))
        )
    return tuple(result)


def messages(category: st.SearchStrategy[Category]) -> st.SearchStrategy[OutboundMessage]:
    return st.builds(
        OutboundMessage,
        channel=st.sampled_from(CHANNELS),
        category=category,
        contact_id=st.just("c1"),
        campaign_id=st.sampled_from(CAMPAIGNS),
        topic=st.sampled_from(TOPICS),
        priority=st.integers(0, 9),
        expires_at=st.none(),
    )


any_messages = messages(categories)
transactional_messages = messages(st.just(Category.TRANSACTIONAL))
marketing_messages = messages(st.just(Category.MARKETING))
gated_messages = messages(st.sampled_from([Category.SERVICE, Category.MARKETING]))

# Suppressions and touches are drawn relative to ``now`` and built in the test, so the
# strategies stay module constants (rebuilding them per example is what makes hypothesis slow).
suppression_specs = st.lists(
    st.tuples(
        st.integers(0, 99),
        st.one_of(
            st.tuples(st.just("global"), st.none()),
            st.tuples(st.just("channel"), st.sampled_from(CHANNELS)),
            st.tuples(st.just("topic"), st.sampled_from(TOPICS[1:])),
        ),
        st.sampled_from(list(SuppressionReason)),
        st.one_of(st.none(), st.integers(-120, 120)),
    ),
    max_size=4,
)
touch_specs = st.lists(
    st.tuples(
        st.sampled_from(CHANNELS),
        categories,
        st.sampled_from(CAMPAIGNS),
        st.sampled_from(TOPICS),
        st.integers(0, 10 * 1440),
        st.sampled_from(list(TouchState)),
    ),
    max_size=8,
)
consent_maps = st.dictionaries(st.sampled_from(CHANNELS), st.sampled_from(["granted", "denied", "unknown"]))

SuppressionSpec = tuple[int, tuple[str, "str | None"], SuppressionReason, "int | None"]
TouchSpec = tuple[str, Category, "str | None", "str | None", int, TouchState]


def make_suppressions(specs: list[SuppressionSpec], now: datetime) -> tuple[Suppression, ...]:
    return tuple(
        Suppression(
            f"s{i}", scope, value, reason, None if expiry is None else now + timedelta(minutes=expiry)
        )
        for i, (scope, value), reason, expiry in specs
    )


def make_touches(specs: list[TouchSpec], now: datetime) -> tuple[Touch, ...]:
    return tuple(
        Touch(channel, category, campaign, topic, now - timedelta(minutes=ago), state)
        for channel, category, campaign, topic, ago, state in specs
    )


def oracle_in_scope(cap: FrequencyCap, touch: Touch) -> bool:
    if touch.category == "transactional":
        return False
    return {
        "all": True,
        "channel": touch.channel == cap.scope_value,
        "category": touch.category == cap.scope_value,
        "campaign": touch.campaign_id == cap.scope_value,
    }[cap.scope]


def oracle_sendable(windows: tuple[SendWindow, ...], tz: tzinfo, at: datetime) -> bool:
    """Sending allowed at ``at``: the local clock's weekday and time fall in some window."""
    if not windows:
        return True
    local = at.astimezone(tz)
    day, clock = local.weekday(), local.time()
    for window in windows:
        if window.start < window.end:
            inside = day in window.weekdays and window.start <= clock < window.end
        else:  # crosses midnight (or spans the whole day when start == end)
            inside = (day in window.weekdays and clock >= window.start) or (
                (day - 1) % 7 in window.weekdays and clock < window.end
            )
        if inside:
            return True
    return False


def oracle_blocks(suppression: Suppression, message: OutboundMessage, now: datetime) -> bool:
    if suppression.expires_at is not None and suppression.expires_at <= now:
        return False
    return (
        suppression.scope == "global"
        or (suppression.scope == "channel" and suppression.value == message.channel)
        or (suppression.scope == "topic" and message.topic is not None and suppression.value == message.topic)
    )


# (a) no stream of sends ever exceeds a cap or the marketing gap

# Gaps just under a day make touches land in the hour a DST change adds to or removes from a day.
stream_gaps = st.one_of(st.integers(0, 12 * 60), st.sampled_from([0, 30, 23 * 60, 23 * 60 + 30, 24 * 60 - 1]))


@settings(max_examples=examples(2000), deadline=None)
@given(
    cap_rules=caps(),
    gap=st.one_of(st.none(), st.integers(0, 6 * 60).map(lambda m: timedelta(minutes=m))),
    stream=st.lists(st.tuples(stream_gaps, any_messages, st.sampled_from(list(TouchState))), max_size=40),
    zone=st.sampled_from(ZONES),
)
def test_a_sequential_sends_never_exceed_any_cap(
    cap_rules: tuple[FrequencyCap, ...],
    gap: timedelta | None,
    stream: list[tuple[int, OutboundMessage, TouchState]],
    zone: str,
) -> None:
    rules = PolicyRules(caps=cap_rules, min_marketing_gap=gap)
    # Times are given in the contact's zone and the stream starts shortly before a spring-forward,
    # so a window computed on the wall clock instead of elapsed time would let one touch too many in.
    tz, utc_now, touches = ZoneInfo(zone), SPRING_FORWARD[zone] - timedelta(hours=12), []
    for minutes, message, touch_state in stream:
        utc_now += timedelta(minutes=minutes)
        now = utc_now.astimezone(tz)
        decision = decide(message, ContactPolicyState(zone, {}, (), tuple(touches)), rules, now)
        assert decision.outcome in (Outcome.SEND, Outcome.CAP)
        if decision.outcome is Outcome.SEND:
            touches.append(
                Touch(message.channel, message.category, message.campaign_id, message.topic, now, touch_state)
            )

    for cap in cap_rules:
        counted = [t.at.astimezone(UTC) for t in touches if oracle_in_scope(cap, t)]
        for end in counted:  # the fullest window always ends at a touch
            in_window = sum(1 for at in counted if end - cap.window < at <= end)
            assert in_window <= cap.limit, (cap, end, in_window)
    if gap:
        marketing = [t.at.astimezone(UTC) for t in touches if t.category == "marketing"]
        assert all(later - earlier >= gap for earlier, later in zip(marketing, marketing[1:], strict=False))


# (b) transactional messages bypass caps and quiet hours, never hard suppression


@settings(max_examples=examples(1000), deadline=None)
@given(
    message=transactional_messages,
    now=instants,
    cap_rules=caps(),
    windows=window_lists,
    zone=st.sampled_from(ZONES),
    suppression_spec=suppression_specs,
    touch_spec=touch_specs,
)
def test_b_transactional_is_never_capped_or_deferred(
    message: OutboundMessage,
    now: datetime,
    cap_rules: tuple[FrequencyCap, ...],
    windows: tuple[SendWindow, ...],
    zone: str,
    suppression_spec: list[SuppressionSpec],
    touch_spec: list[TouchSpec],
) -> None:
    suppressions = make_suppressions(suppression_spec, now)
    touches = make_touches(touch_spec, now)
    rules = PolicyRules(
        caps=cap_rules,
        min_marketing_gap=timedelta(hours=4),
        quiet_hours=QuietHours(dict.fromkeys(CHANNELS, windows)),
        opt_in_channels=frozenset(CHANNELS),
    )
    decision = decide(message, ContactPolicyState(zone, {}, suppressions, touches), rules, now)

    hard = [
        s for s in suppressions if s.reason in HARD and s.scope != "topic" and oracle_blocks(s, message, now)
    ]
    if hard:
        assert decision.outcome is Outcome.SUPPRESS
        assert decision.rule_id in {s.id for s in hard}
    else:
        assert decision.outcome is Outcome.SEND, decision


# (c) nothing is sent outside the contact's send windows; deferrals land on the next opening


@settings(max_examples=examples(1000), deadline=None)
@given(
    now=instants,
    windows=window_lists,
    zone=st.sampled_from(ZONES),
    message=gated_messages,
)
def test_c_sends_and_deferrals_respect_local_send_windows(
    now: datetime, windows: tuple[SendWindow, ...], zone: str, message: OutboundMessage
) -> None:
    tz = ZoneInfo(zone)
    rules = PolicyRules(quiet_hours=QuietHours({message.channel: windows}))
    decision = decide(message, ContactPolicyState(zone, {}, (), ()), rules, now)

    if decision.outcome is Outcome.SEND:
        assert oracle_sendable(windows, tz, now)
        return
    assert decision.outcome is Outcome.DEFER
    assert not oracle_sendable(windows, tz, now)
    opens = decision.defer_until
    assert opens is not None and opens > now
    assert oracle_sendable(windows, tz, opens)
    # Window edges and these zones' offsets are all on a 15-minute grid, so whether sending
    # is allowed is constant between grid points: checking them proves ``opens`` is the earliest.
    assert (opens - START) % QUARTER == timedelta(0)
    point = START + ((now - START) // QUARTER + 1) * QUARTER
    while point < opens:
        assert not oracle_sendable(windows, tz, point), point
        point += QUARTER


# (d) marketing is never sent over an active, matching suppression


@settings(max_examples=examples(1000), deadline=None)
@given(
    message=marketing_messages,
    now=instants,
    zone=st.sampled_from(ZONES),
    suppression_spec=suppression_specs,
    touch_spec=touch_specs,
    consents=consent_maps,
)
def test_d_marketing_never_sent_while_suppressed(
    message: OutboundMessage,
    now: datetime,
    zone: str,
    suppression_spec: list[SuppressionSpec],
    touch_spec: list[TouchSpec],
    consents: dict[str, str],
) -> None:
    suppressions = make_suppressions(suppression_spec, now)
    rules = PolicyRules.defaults()
    state = ContactPolicyState(zone, consents, suppressions, make_touches(touch_spec, now))
    decision = decide(message, state, rules, now)

    matching = [s for s in suppressions if oracle_blocks(s, message, now)]
    if matching:
        assert decision.outcome is Outcome.SUPPRESS
        assert decision.rule_id in {s.id for s in matching}
    if decision.outcome is Outcome.SEND:
        assert not matching
        assert consents.get(message.channel) == "granted" or message.channel not in rules.opt_in_channels


# decide is total and its decisions are well formed


@settings(max_examples=examples(1000), deadline=None)
@given(
    base=any_messages,
    now=instants,
    cap_rules=caps(),
    windows=window_lists,
    zone=st.one_of(st.none(), st.sampled_from(ZONES), st.text(max_size=12)),
    expires_in=st.one_of(st.none(), st.integers(-60, 10 * 1440)),
    suppression_spec=suppression_specs,
    touch_spec=touch_specs,
)
def test_decide_is_total(
    base: OutboundMessage,
    now: datetime,
    cap_rules: tuple[FrequencyCap, ...],
    windows: tuple[SendWindow, ...],
    zone: str | None,
    expires_in: int | None,
    suppression_spec: list[SuppressionSpec],
    touch_spec: list[TouchSpec],
) -> None:
    expires_at = None if expires_in is None else now + timedelta(minutes=expires_in)
    message = OutboundMessage(base.channel, base.category, "c1", base.campaign_id, base.topic, 0, expires_at)
    state = ContactPolicyState(
        zone, {"email": "granted"}, make_suppressions(suppression_spec, now), make_touches(touch_spec, now)
    )
    rules = PolicyRules(
        caps=cap_rules,
        min_marketing_gap=timedelta(hours=1),
        quiet_hours=QuietHours({"sms": windows, "call": windows}),
        opt_in_channels=frozenset({"email", "sms"}),
    )
    decision = decide(message, state, rules, now)

    assert decision.is_final == (decision.outcome is not Outcome.DEFER)
    assert (decision.defer_until is not None) == (decision.outcome is Outcome.DEFER)
    if decision.outcome is Outcome.DEFER:
        assert decision.defer_until > now
        assert expires_at is None or expires_at > decision.defer_until
    if decision.outcome is Outcome.CAP:
        assert decision.rule_id in {cap.id for cap in cap_rules} | {"min_gap"}
    if expires_at is not None and expires_at <= now:
        assert decision.outcome is Outcome.EXPIRE


# (e) the global control group: members get no marketing; nothing else changes


def oracle_in_control_group(contact_id: str, salt: str, percent: float) -> bool:
    """The documented rule, restated: sha256("salt:id"), first 8 bytes, mod 10,000 < percent in basis points."""
    digest = hashlib.sha256(f"{salt}:{contact_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < round(percent * 100)


@settings(max_examples=examples(1000), deadline=None)
@given(
    base=any_messages,
    contact=st.integers(0, 10_000).map(lambda n: f"contact-{n}"),
    percent=st.one_of(st.sampled_from([0, 50]), st.floats(0, 50, allow_nan=False)),
    salt=st.text(min_size=1, max_size=8),
    now=instants,
    zone=st.sampled_from(ZONES),
    suppression_spec=suppression_specs,
    touch_spec=touch_specs,
    consents=consent_maps,
)
def test_e_control_group_members_get_no_marketing_and_nothing_else_changes(
    base: OutboundMessage,
    contact: str,
    percent: float,
    salt: str,
    now: datetime,
    zone: str,
    suppression_spec: list[SuppressionSpec],
    touch_spec: list[TouchSpec],
    consents: dict[str, str],
) -> None:
    message = OutboundMessage(base.channel, base.category, contact, base.campaign_id, base.topic)
    state = ContactPolicyState(zone, consents, make_suppressions(suppression_spec, now), make_touches(touch_spec, now))
    without = PolicyRules.defaults()
    with_group = dataclasses.replace(without, control_group=ControlGroup(percent, salt))
    before, after = decide(message, state, without, now), decide(message, state, with_group, now)

    if message.category == "marketing" and oracle_in_control_group(contact, salt, percent):
        assert after.outcome is not Outcome.SEND
        if before.outcome in (Outcome.SEND, Outcome.DEFER, Outcome.CAP):  # rules that run after the group
            assert (after.outcome, after.reason) == (Outcome.SUPPRESS, "control_group")
        else:
            assert after == before
    else:
        assert after == before
