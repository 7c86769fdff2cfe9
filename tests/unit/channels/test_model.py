"""The model's own guards and the shipped default rules."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from services.channels.domain import (
    CapScope,
    ContactPolicyState,
    FrequencyCap,
    OutboundMessage,
    PolicyRules,
    SendWindow,
    Suppression,
    Touch,
    decide,
)

ALL_DAYS = frozenset(range(7))
GRANTED = {"email": "granted", "sms": "granted"}
SMS_MARKETING = OutboundMessage("sms", "marketing", "c1")


@pytest.mark.parametrize(
    "build",
    [
        lambda: FrequencyCap("x", -1, timedelta(days=1)),
        lambda: FrequencyCap("x", 1, timedelta(0)),
        lambda: FrequencyCap("x", 1, timedelta(days=1), "channel"),
        lambda: FrequencyCap("x", 1, timedelta(days=1), "all", "sms"),
        lambda: FrequencyCap("x", 1, timedelta(days=1), "category", "transactional"),
        lambda: FrequencyCap("x", 1, timedelta(days=1), "weekly"),
        lambda: Suppression("x", "channel", None, "bounced"),
        lambda: Suppression("x", "global", None, "annoyed"),
        lambda: OutboundMessage("sms", "marketing", "c1", expires_at=datetime(2024, 1, 1)),
        lambda: Touch("sms", "marketing", None, None, datetime(2024, 1, 1)),
        lambda: SendWindow(frozenset(), time(9), time(17)),
        lambda: SendWindow(frozenset({7}), time(9), time(17)),
        lambda: PolicyRules(caps=(FrequencyCap("x", 1, timedelta(days=1)),) * 2),
    ],
)
def test_invalid_rules_are_rejected_at_construction(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


def test_decide_requires_an_aware_now() -> None:
    with pytest.raises(ValueError, match="aware"):
        decide(SMS_MARKETING, ContactPolicyState(), PolicyRules(), datetime(2024, 5, 6, 12, 0))


def test_defaults() -> None:
    defaults = PolicyRules.defaults()
    assert {cap.id: (cap.limit, cap.window, cap.scope, cap.scope_value) for cap in defaults.caps} == {
        "marketing-weekly": (3, timedelta(days=7), CapScope.CATEGORY, "marketing"),
        "sms-daily": (1, timedelta(days=1), CapScope.CHANNEL, "sms"),
    }
    assert defaults.min_marketing_gap == timedelta(hours=4)
    assert defaults.opt_in_channels == {"email", "sms"}
    assert defaults.quiet_hours.for_channel("web") == ()
    assert defaults.quiet_hours.for_channel("email") == (SendWindow(ALL_DAYS, time(8), time(21)),)
    assert defaults.quiet_hours.for_channel("call") == (SendWindow(frozenset(range(6)), time(9), time(20)),)
    sunday_noon = datetime(2024, 5, 5, 10, 0, tzinfo=UTC)
    assert decide(
        SMS_MARKETING, ContactPolicyState("Europe/Berlin", GRANTED), defaults, sunday_noon
    ).defer_until == datetime(2024, 5, 6, 7, 0, tzinfo=UTC)
