"""Example tests of the dispatch gate: one per rule, then the order the rules run in."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.channels.domain import (
    CapScope,
    Category,
    Channel,
    ContactPolicyState,
    Decision,
    FrequencyCap,
    OutboundMessage,
    Outcome,
    PolicyRules,
    QuietHours,
    SendWindow,
    Suppression,
    Touch,
    TouchState,
    decide,
    touches_in_scope,
)

NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)  # a Monday, midday in Berlin
ALL_DAYS = frozenset(range(7))
GRANTED = {"email": "granted", "sms": "granted", "call": "granted", "web": "granted"}


def message(
    channel: str = Channel.EMAIL,
    category: Category = Category.MARKETING,
    campaign_id: str | None = "spring",
    topic: str | None = None,
    expires_at: datetime | None = None,
) -> OutboundMessage:
    return OutboundMessage(channel, category, "c1", campaign_id, topic, 0, expires_at)


def touch(
    ago: timedelta,
    channel: str = Channel.EMAIL,
    category: Category = Category.MARKETING,
    campaign_id: str | None = "spring",
    state: TouchState = TouchState.SENT,
) -> Touch:
    return Touch(channel, category, campaign_id, None, NOW - ago, state)


def state(
    suppressions: tuple[Suppression, ...] = (),
    touches: tuple[Touch, ...] = (),
    consents: dict[str, str] | None = None,
    time_zone: str | None = "Europe/Berlin",
) -> ContactPolicyState:
    return ContactPolicyState(time_zone, GRANTED if consents is None else consents, suppressions, touches)


def rules(**changes: object) -> PolicyRules:
    """Rules that let everything through unless a test adds one."""
    base: dict[str, object] = {
        "caps": (),
        "min_marketing_gap": None,
        "quiet_hours": QuietHours(),
        "opt_in_channels": frozenset(),
    }
    base.update(changes)
    return PolicyRules(**base)  # type: ignore[arg-type]


def test_sends_when_nothing_objects() -> None:
    decision = decide(message(), state(), rules(), NOW)
    assert decision.outcome is Outcome.SEND
    assert decision.is_final


# 1. expiry


def test_expired_message_expires() -> None:
    decision = decide(message(expires_at=NOW), state(), rules(), NOW)
    assert (decision.outcome, decision.reason) == (Outcome.EXPIRE, "expired")


def test_message_expiring_later_is_sent() -> None:
    assert (
        decide(message(expires_at=NOW + timedelta(seconds=1)), state(), rules(), NOW).outcome is Outcome.SEND
    )


# 2. suppression


@pytest.mark.parametrize(
    ("scope", "value", "reason", "category", "blocked"),
    [
        ("global", None, "erased", Category.TRANSACTIONAL, True),
        ("global", None, "unsubscribed", Category.MARKETING, True),
        ("global", None, "unsubscribed", Category.SERVICE, True),
        ("global", None, "unsubscribed", Category.TRANSACTIONAL, False),
        ("channel", "email", "bounced", Category.TRANSACTIONAL, True),
        ("channel", "email", "complained", Category.SERVICE, True),
        ("channel", "email", "unsubscribed", Category.MARKETING, True),
        ("channel", "email", "unsubscribed", Category.TRANSACTIONAL, False),
        ("channel", "sms", "stop", Category.TRANSACTIONAL, False),  # other channel
        ("topic", "mortgage", "product_held", Category.MARKETING, True),
        ("topic", "mortgage", "product_held", Category.SERVICE, False),
        ("topic", "mortgage", "legal", Category.TRANSACTIONAL, False),
        ("topic", "loans", "product_held", Category.MARKETING, False),  # other topic
    ],
)
def test_suppression_matrix(
    scope: str, value: str | None, reason: str, category: Category, blocked: bool
) -> None:
    suppression = Suppression("s1", scope, value, reason)  # type: ignore[arg-type]
    decision = decide(message(category=category, topic="mortgage"), state((suppression,)), rules(), NOW)
    if blocked:
        assert decision.outcome is Outcome.SUPPRESS
        assert decision.reason == f"suppressed:{scope}:{reason}"
        assert decision.rule_id == "s1"
    else:
        assert decision.outcome is Outcome.SEND


def test_expired_suppression_no_longer_applies() -> None:
    lapsed = Suppression("s1", "global", None, "legal", expires_at=NOW)
    assert decide(message(), state((lapsed,)), rules(), NOW).outcome is Outcome.SEND


def test_suppression_reported_is_the_broadest_and_hardest() -> None:
    suppressions = (
        Suppression("topic", "topic", "mortgage", "product_held"),
        Suppression("soft", "channel", "email", "unsubscribed"),
        Suppression("hard", "channel", "email", "bounced"),
    )
    decision = decide(message(topic="mortgage"), state(suppressions), rules(), NOW)
    assert decision.rule_id == "hard"


# 3. consent


@pytest.mark.parametrize("consent", [None, "unknown", "denied"])
def test_marketing_on_opt_in_channel_needs_granted_consent(consent: str | None) -> None:
    consents = {} if consent is None else {"email": consent}
    decision = decide(message(), state(consents=consents), rules(opt_in_channels=frozenset({"email"})), NOW)
    assert (decision.outcome, decision.reason) == (Outcome.SUPPRESS, "consent_missing")


@pytest.mark.parametrize("category", [Category.SERVICE, Category.TRANSACTIONAL])
def test_consent_is_only_asked_of_marketing(category: Category) -> None:
    decision = decide(message(category=category), state(consents={}), rules(opt_in_channels={"email"}), NOW)
    assert decision.outcome is Outcome.SEND


def test_opt_out_channel_sends_marketing_without_consent_but_not_after_refusal() -> None:
    assert decide(message(channel="call"), state(consents={}), rules(), NOW).outcome is Outcome.SEND
    refused = decide(message(channel="call"), state(consents={"call": "denied"}), rules(), NOW)
    assert (refused.outcome, refused.reason) == (Outcome.SUPPRESS, "consent_denied")


# 4. quiet hours

BUSINESS_HOURS = QuietHours({"sms": (SendWindow(ALL_DAYS, time(9), time(20)),)})


def test_outside_quiet_window_defers_to_next_start() -> None:
    evening = datetime(2024, 5, 6, 19, 30, tzinfo=UTC)  # 21:30 in Berlin
    decision = decide(message(channel="sms"), state(), rules(quiet_hours=BUSINESS_HOURS), evening)
    assert (decision.outcome, decision.reason) == (Outcome.DEFER, "quiet_hours")
    assert decision.defer_until == datetime(2024, 5, 7, 7, 0, tzinfo=UTC)
    assert not decision.is_final


def test_quiet_hours_use_the_contacts_time_zone() -> None:
    at = datetime(2024, 5, 6, 14, 0, tzinfo=UTC)  # 16:00 Berlin, 07:00 Los Angeles
    quiet = rules(quiet_hours=BUSINESS_HOURS)
    assert decide(message(channel="sms"), state(), quiet, at).outcome is Outcome.SEND
    in_la = decide(message(channel="sms"), state(time_zone="America/Los_Angeles"), quiet, at)
    assert in_la.defer_until == datetime(2024, 5, 6, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize("zone", [None, "", "Mars/Olympus_Mons", "../etc/passwd"])
def test_missing_or_unknown_time_zone_falls_back_to_utc(zone: str | None) -> None:
    at = datetime(2024, 5, 6, 20, 30, tzinfo=UTC)
    decision = decide(message(channel="sms"), state(time_zone=zone), rules(quiet_hours=BUSINESS_HOURS), at)
    assert decision.defer_until == datetime(2024, 5, 7, 9, 0, tzinfo=UTC)


def test_channel_without_windows_is_unrestricted() -> None:
    at = datetime(2024, 5, 6, 1, 0, tzinfo=UTC)
    assert (
        decide(message(channel="web"), state(), rules(quiet_hours=BUSINESS_HOURS), at).outcome is Outcome.SEND
    )


def test_message_that_expires_before_the_window_opens_expires() -> None:
    evening = datetime(2024, 5, 6, 19, 30, tzinfo=UTC)
    msg = message(channel="sms", expires_at=datetime(2024, 5, 7, 7, 0, tzinfo=UTC))
    decision = decide(msg, state(), rules(quiet_hours=BUSINESS_HOURS), evening)
    assert (decision.outcome, decision.reason) == (Outcome.EXPIRE, "expired:quiet_hours")


def test_transactional_ignores_quiet_hours() -> None:
    night = datetime(2024, 5, 6, 1, 0, tzinfo=UTC)
    msg = message(channel="sms", category=Category.TRANSACTIONAL)
    assert decide(msg, state(), rules(quiet_hours=BUSINESS_HOURS), night).outcome is Outcome.SEND


def test_service_respects_quiet_hours() -> None:
    night = datetime(2024, 5, 6, 1, 0, tzinfo=UTC)
    msg = message(channel="sms", category=Category.SERVICE)
    assert decide(msg, state(), rules(quiet_hours=BUSINESS_HOURS), night).outcome is Outcome.DEFER


# 5. caps and the marketing gap

WEEKLY = FrequencyCap("weekly", 3, timedelta(days=7), CapScope.CATEGORY, "marketing")


def test_cap_reached_caps_with_rule_id_and_detail() -> None:
    touches = tuple(touch(timedelta(days=d)) for d in (1, 2, 3))
    decision = decide(message(), state(touches=touches), rules(caps=(WEEKLY,)), NOW)
    assert decision == Decision(
        Outcome.CAP, "cap:weekly", "weekly", None, "3 of 3 marketing touches in 7 days already used"
    )


def test_cap_window_is_rolling() -> None:
    touches = (touch(timedelta(days=7)), touch(timedelta(days=2)), touch(timedelta(days=3)))
    assert decide(message(), state(touches=touches), rules(caps=(WEEKLY,)), NOW).outcome is Outcome.SEND


def test_reserved_touches_count() -> None:
    touches = tuple(touch(timedelta(days=d), state=TouchState.RESERVED) for d in (1, 2, 3))
    assert decide(message(), state(touches=touches), rules(caps=(WEEKLY,)), NOW).outcome is Outcome.CAP


def test_zero_limit_blocks_everything_in_scope() -> None:
    never = FrequencyCap("no-sms", 0, timedelta(hours=1), "channel", "sms")
    assert decide(message(channel="sms"), state(), rules(caps=(never,)), NOW).reason == "cap:no-sms"
    assert decide(message(channel="email"), state(), rules(caps=(never,)), NOW).outcome is Outcome.SEND


@pytest.mark.parametrize(
    ("cap", "msg", "touches", "capped"),
    [
        # 'all' counts every non-transactional touch, whatever the channel or category
        (
            FrequencyCap("all", 2, timedelta(days=1)),
            message(),
            (touch(timedelta(hours=1), "sms", Category.SERVICE), touch(timedelta(hours=2), "call")),
            True,
        ),
        (
            FrequencyCap("all", 2, timedelta(days=1)),
            message(),
            (
                touch(timedelta(hours=1), "sms", Category.SERVICE),
                touch(timedelta(hours=2), "call", Category.TRANSACTIONAL),
            ),
            False,
        ),
        # 'channel' applies only to messages on that channel
        (
            FrequencyCap("sms", 1, timedelta(days=1), "channel", "sms"),
            message("sms"),
            (touch(timedelta(hours=1), "sms", Category.SERVICE),),
            True,
        ),
        (
            FrequencyCap("sms", 1, timedelta(days=1), "channel", "sms"),
            message("email"),
            (touch(timedelta(hours=1), "sms", Category.SERVICE),),
            False,
        ),
        (
            FrequencyCap("sms", 1, timedelta(days=1), "channel", "sms"),
            message("sms"),
            (touch(timedelta(hours=1), "email"),),
            False,
        ),
        # 'category' applies to messages of that category, counting touches of it
        (
            FrequencyCap("svc", 1, timedelta(days=1), "category", "service"),
            message(category=Category.SERVICE),
            (touch(timedelta(hours=1), category=Category.SERVICE),),
            True,
        ),
        (
            FrequencyCap("svc", 1, timedelta(days=1), "category", "service"),
            message(),
            (touch(timedelta(hours=1), category=Category.SERVICE),),
            False,
        ),
        # 'campaign' applies to messages of that campaign
        (
            FrequencyCap("spring", 1, timedelta(days=1), "campaign", "spring"),
            message(),
            (touch(timedelta(hours=1), "sms"),),
            True,
        ),
        (
            FrequencyCap("spring", 1, timedelta(days=1), "campaign", "spring"),
            message(campaign_id="autumn"),
            (touch(timedelta(hours=1), "sms"),),
            False,
        ),
        (
            FrequencyCap("spring", 1, timedelta(days=1), "campaign", "spring"),
            message(),
            (touch(timedelta(hours=1), campaign_id="autumn"),),
            False,
        ),
    ],
)
def test_cap_scopes(
    cap: FrequencyCap, msg: OutboundMessage, touches: tuple[Touch, ...], capped: bool
) -> None:
    decision = decide(msg, state(touches=touches), rules(caps=(cap,)), NOW)
    assert decision.outcome is (Outcome.CAP if capped else Outcome.SEND)


def test_touches_in_scope_counts_only_the_window() -> None:
    cap = FrequencyCap("day", 5, timedelta(days=1))
    inside, edge = touch(timedelta(hours=23)), touch(timedelta(days=1))
    assert touches_in_scope(cap, [inside, edge], NOW) == [inside]


def test_cap_window_counts_elapsed_time_across_dst() -> None:
    # 2024-03-31 is 23 hours long in Berlin; a 24h window must still be 24 real hours,
    # not "the same wall-clock time yesterday".
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2024, 3, 31, 12, 0, tzinfo=berlin)
    cap = FrequencyCap("day", 1, timedelta(days=1))
    inside = Touch(
        "email", "marketing", None, None, datetime(2024, 3, 30, 11, 30, tzinfo=berlin)
    )  # 23.5h ago
    outside = Touch(
        "email", "marketing", None, None, datetime(2024, 3, 30, 10, 30, tzinfo=berlin)
    )  # 24.5h ago
    assert touches_in_scope(cap, [inside, outside], now) == [inside]


def test_min_gap_between_marketing_touches() -> None:
    gap = rules(min_marketing_gap=timedelta(hours=4))
    recent = (touch(timedelta(hours=3), "sms"),)
    decision = decide(message(), state(touches=recent), gap, NOW)
    assert (decision.outcome, decision.reason, decision.rule_id) == (Outcome.CAP, "min_gap", "min_gap")
    assert decide(message(), state(touches=(touch(timedelta(hours=4)),)), gap, NOW).outcome is Outcome.SEND
    service = message(category=Category.SERVICE)
    assert decide(service, state(touches=recent), gap, NOW).outcome is Outcome.SEND


def test_transactional_ignores_caps() -> None:
    msg = message(category=Category.TRANSACTIONAL)
    full = FrequencyCap("none", 0, timedelta(days=1))
    assert decide(msg, state(), rules(caps=(full,)), NOW).outcome is Outcome.SEND


# precedence: expiry > suppression > consent > quiet hours > caps > min gap


def test_precedence_order() -> None:
    night = datetime(2024, 5, 6, 1, 0, tzinfo=UTC)
    everything = rules(
        caps=(FrequencyCap("none", 0, timedelta(days=1)),),
        min_marketing_gap=timedelta(hours=4),
        quiet_hours=BUSINESS_HOURS,
        opt_in_channels=frozenset({"sms"}),
    )
    held = (Suppression("s1", "channel", "sms", "stop"),)
    recent = (Touch("email", "marketing", None, None, night - timedelta(hours=1)),)
    sms = message(channel="sms")

    def reason(msg: OutboundMessage, st: ContactPolicyState, at: datetime = night) -> str:
        return decide(msg, st, everything, at).reason

    expiring = message(channel="sms", expires_at=night)
    assert reason(expiring, state(held, recent, consents={})) == "expired"
    assert reason(sms, state(held, recent, consents={})) == "suppressed:channel:stop"
    assert reason(sms, state((), recent, consents={})) == "consent_missing"
    assert reason(sms, state((), recent)) == "quiet_hours"
    assert reason(sms, state((), recent), NOW) == "cap:none"
    no_caps = rules(min_marketing_gap=timedelta(hours=4))
    assert decide(sms, state((), (touch(timedelta(hours=1)),)), no_caps, NOW).reason == "min_gap"


def test_caps_are_checked_in_order() -> None:
    first = FrequencyCap("first", 0, timedelta(days=1))
    second = FrequencyCap("second", 0, timedelta(days=1))
    assert decide(message(), state(), rules(caps=(second, first)), NOW).rule_id == "second"
