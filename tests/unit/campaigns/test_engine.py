"""The enrollment engine: interaction policies, a drip, exit goals, re-entry and DST-correct waits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.campaigns.domain.definition import Campaign, ExitGoal, Reentry, parse_definition
from services.campaigns.domain.engine import (
    Complete,
    Enrollment,
    RecordSplit,
    ScheduleWake,
    SendMessage,
    advance,
    exit_goal_reached,
    matches_trigger,
    may_reenter,
    message_key,
)

NOW = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)
PLATINUM = {"id": "c1", "attributes": {"tier": "platinum"}, "timezone": "Europe/Berlin"}
Ctx = Callable[..., Any]
Raw = Callable[..., dict[str, Any]]


def state(**overrides: Any) -> Enrollment:
    return Enrollment(**{"campaign_id": "cmp-1", "version": 3, "contact_id": "c1", **overrides})


@pytest.fixture
def withdrawal_policy(definition: Raw) -> Campaign:
    """ "If a platinum customer withdraws more than 10,000, a sales rep calls.\""""
    return parse_definition(
        definition(
            [
                {
                    "id": "call",
                    "type": "send",
                    "channel": "call",
                    "priority": 100,
                    "expires_after": "1d",
                    "template": {
                        "subject": "Large withdrawal",
                        "body": "{{ event.amount }} withdrawn; please call.",
                    },
                }
            ],
            category="service",
            entry={
                "type": "event",
                "event_type": "withdrawal",
                "condition": "event.amount > 10000 and contact.tier == 'platinum'",
            },
        )
    )


@pytest.fixture
def address_policy(definition: Raw) -> Campaign:
    """ "Address change reported through the call center → the personal web page offers a mortgage.\""""
    return parse_definition(
        definition(
            [{"id": "offer", "type": "send", "channel": "web", "template": "mortgage-offer"}],
            topic="mortgage",
            entry={
                "type": "event",
                "event_type": "address_changed",
                "condition": "event.channel == 'call_center'",
            },
            exit_goals=[{"event_type": "mortgage_opened", "suppress_topic": "mortgage"}],
        )
    )


@pytest.fixture
def drip(definition: Raw) -> Campaign:
    """Email, wait two days, then SMS to those who did not open; those who opened are done."""
    return parse_definition(
        definition(
            [
                {
                    "id": "welcome",
                    "type": "send",
                    "channel": "email",
                    "template": "welcome-1",
                    "next": "pause",
                },
                {"id": "pause", "type": "wait", "duration": "2d", "next": "opened?"},
                {
                    "id": "opened?",
                    "type": "branch",
                    "branches": [
                        {
                            "condition": "step.welcome.outcome == 'opened' or step.welcome.outcome == 'clicked'",
                            "next": None,
                        }
                    ],
                    "else": "nudge",
                },
                {"id": "nudge", "type": "send", "channel": "sms", "template": "welcome-sms"},
            ],
            exit_goals=[{"event_type": "purchase", "condition": "event.total >= 50"}],
        )
    )


@pytest.mark.parametrize(
    ("amount", "tier", "expected"),
    [(12000, "platinum", True), (10000, "platinum", False), (50000, "gold", False)],
)
def test_withdrawal_policy_triggers_only_for_large_platinum_withdrawals(
    withdrawal_policy: Campaign, make_ctx: Ctx, amount: int, tier: str, expected: bool
) -> None:
    event = {"type": "withdrawal", "amount": amount}
    ctx = make_ctx(contact={"id": "c1", "attributes": {"tier": tier}, "tier": tier}, event=event)

    assert matches_trigger(withdrawal_policy, event, ctx) is expected


def test_withdrawal_policy_calls_at_high_priority(withdrawal_policy: Campaign, make_ctx: Ctx) -> None:
    event = {"type": "withdrawal", "amount": 12000}
    ctx = make_ctx(contact={**PLATINUM, "tier": "platinum"}, event=event)

    actions = advance(withdrawal_policy, state(), ctx, NOW)

    assert actions == [
        SendMessage(
            step_id="call",
            channel="call",
            template=withdrawal_policy.steps[0].template,
            priority=100,
            expires_at=NOW + timedelta(days=1),
            occurrence=1,
            key=message_key("cmp-1", 3, "call", "c1", 1),
            category="service",
            topic=None,
        ),
        Complete("completed"),
    ]


def test_other_event_types_never_trigger(withdrawal_policy: Campaign, make_ctx: Ctx) -> None:
    event = {"type": "deposit", "amount": 99999}

    assert not matches_trigger(withdrawal_policy, event, make_ctx(contact=PLATINUM, event=event))


@pytest.mark.parametrize(("channel", "expected"), [("call_center", True), ("web", False)])
def test_address_change_via_call_center_offers_a_mortgage(
    address_policy: Campaign, make_ctx: Ctx, channel: str, expected: bool
) -> None:
    event = {"type": "address_changed", "channel": channel}
    ctx = make_ctx(event=event)

    assert matches_trigger(address_policy, event, ctx) is expected
    if expected:
        send = advance(address_policy, state(), ctx, NOW)[0]
        assert isinstance(send, SendMessage)
        assert (send.channel, send.template, send.topic, send.priority) == (
            "web",
            "mortgage-offer",
            "mortgage",
            5,
        )


def test_exit_goal_carries_the_topic_to_suppress(address_policy: Campaign, make_ctx: Ctx) -> None:
    event = {"type": "mortgage_opened"}

    assert exit_goal_reached(address_policy, event, make_ctx(event=event)) == ExitGoal(
        "mortgage_opened", None, "mortgage"
    )


def test_drip_sends_the_email_then_parks_on_the_wait(drip: Campaign, make_ctx: Ctx) -> None:
    actions = advance(drip, state(), make_ctx(), NOW)

    assert [type(a) for a in actions] == [SendMessage, ScheduleWake]
    assert actions[0].channel == "email"
    assert actions[1] == ScheduleWake("pause", NOW + timedelta(days=2))


def test_drip_waking_early_or_twice_does_nothing(drip: Campaign, make_ctx: Ctx) -> None:
    parked = state(current_step="pause", waiting_until=NOW + timedelta(days=2))

    assert advance(drip, parked, make_ctx(), NOW + timedelta(days=1)) == []


def test_drip_sends_sms_when_the_email_was_not_opened(drip: Campaign, make_ctx: Ctx) -> None:
    due = NOW + timedelta(days=2)
    woken = state(current_step="pause", waiting_until=due, step_outcomes={"welcome": "sent"})

    actions = advance(drip, woken, make_ctx(), due)

    assert [type(a) for a in actions] == [SendMessage, Complete]
    assert (actions[0].step_id, actions[0].channel) == ("nudge", "sms")
    assert actions[1] == Complete("completed")


@pytest.mark.parametrize("outcome", ["opened", "clicked"])
def test_drip_ends_when_the_email_was_opened(drip: Campaign, make_ctx: Ctx, outcome: str) -> None:
    due = NOW + timedelta(days=2)
    woken = state(current_step="pause", waiting_until=due, step_outcomes={"welcome": outcome})

    assert advance(drip, woken, make_ctx(), due) == [Complete("completed")]


def test_drip_exit_goal_needs_its_condition(drip: Campaign, make_ctx: Ctx) -> None:
    small, big = {"type": "purchase", "total": 20}, {"type": "purchase", "total": 80}

    assert exit_goal_reached(drip, small, make_ctx(event=small)) is None
    assert exit_goal_reached(drip, big, make_ctx(event=big)) == drip.exit_goals[0]


def test_goal_check_converts(definition: Raw, make_ctx: Ctx) -> None:
    campaign = parse_definition(
        definition(
            [
                {
                    "id": "bought?",
                    "type": "goal_check",
                    "condition": "contact.tier == 'platinum'",
                    "next": "mail",
                },
                {"id": "mail", "type": "send", "channel": "email", "template": "upsell"},
            ]
        )
    )

    converted = advance(campaign, state(), make_ctx(contact={"id": "c1", "tier": "platinum"}), NOW)
    not_yet = advance(campaign, state(), make_ctx(contact={"id": "c1", "tier": "gold"}), NOW)

    assert converted == [Complete("converted", "goal check 'bought?' met")]
    assert [type(a) for a in not_yet] == [SendMessage, Complete]


def test_split_records_the_variant_and_follows_it(definition: Raw, make_ctx: Ctx) -> None:
    campaign = parse_definition(
        definition(
            [
                {
                    "id": "ab",
                    "type": "split",
                    "variants": [
                        {"name": "A", "weight": 1, "next": "a"},
                        {"name": "B", "weight": 1, "next": "b"},
                    ],
                },
                {"id": "a", "type": "send", "channel": "email", "template": "a"},
                {"id": "b", "type": "send", "channel": "sms", "template": "b"},
            ]
        )
    )

    for contact_id in ("c1", "c2", "c3", "c4"):
        actions = advance(campaign, state(contact_id=contact_id), make_ctx(), NOW)
        split, send = actions[0], actions[1]
        assert isinstance(split, RecordSplit) and isinstance(send, SendMessage)
        assert send.step_id == split.variant.lower()


def test_until_wait_is_the_next_nine_oclock_in_the_contacts_zone_across_dst(
    definition: Raw, make_ctx: Ctx
) -> None:
    campaign = parse_definition(definition([{"id": "morning", "type": "wait", "until": "09:00"}]))
    saturday = datetime(2024, 3, 30, 9, 0, tzinfo=UTC)  # 10:00 CET; clocks spring forward overnight

    actions = advance(campaign, state(timezone="Europe/Berlin"), make_ctx(), saturday)

    assert actions == [ScheduleWake("morning", datetime(2024, 3, 31, 7, 0, tzinfo=UTC))]  # 09:00 CEST


def test_a_step_missing_from_the_version_exits(drip: Campaign, make_ctx: Ctx) -> None:
    assert advance(drip, state(current_step="gone"), make_ctx(), NOW) == [
        Complete("exited", "step 'gone' is not in this campaign version")
    ]


def test_message_key_is_stable_and_distinguishes_each_part() -> None:
    key = message_key("cmp-1", 3, "welcome", "c1", 1)

    assert key == message_key("cmp-1", 3, "welcome", "c1", 1)
    others = {
        message_key("cmp-2", 3, "welcome", "c1", 1),
        message_key("cmp-1", 4, "welcome", "c1", 1),
        message_key("cmp-1", 3, "nudge", "c1", 1),
        message_key("cmp-1", 3, "welcome", "c2", 1),
        message_key("cmp-1", 3, "welcome", "c1", 2),
    }
    assert key not in others and len(others) == 5


@pytest.mark.parametrize(
    ("reentry", "ends", "expected"),
    [
        (Reentry("never"), [], True),
        (Reentry("never"), [NOW - timedelta(days=400)], False),
        (Reentry("always"), [NOW - timedelta(minutes=1)], True),
        (Reentry("always"), [None], False),
        (Reentry("cooldown", timedelta(days=30)), [NOW - timedelta(days=29)], False),
        (Reentry("cooldown", timedelta(days=30)), [NOW - timedelta(days=90), NOW - timedelta(days=30)], True),
    ],
)
def test_may_reenter(reentry: Reentry, ends: list[datetime | None], expected: bool) -> None:
    assert may_reenter(reentry, ends, NOW) is expected


def test_branch_on_recent_behaviour_with_did(definition: Raw, make_ctx: Ctx) -> None:
    campaign = parse_definition(
        definition(
            [
                {
                    "id": "engaged?",
                    "type": "branch",
                    "branches": [{"condition": "did('email_opened', within='3d')", "next": "reward"}],
                    "else": None,
                },
                {"id": "reward", "type": "send", "channel": "email", "template": "reward"},
            ]
        )
    )
    recent = [{"type": "email_opened", "occurred_at": NOW - timedelta(days=1), "data": {}}]
    old = [{"type": "email_opened", "occurred_at": NOW - timedelta(days=5), "data": {}}]

    assert advance(campaign, state(), make_ctx(events=recent), NOW)[0].step_id == "reward"
    assert advance(campaign, state(), make_ctx(events=old), NOW) == [Complete("completed")]


def test_naive_now_is_refused(drip: Campaign, make_ctx: Ctx) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        advance(drip, state(), make_ctx(), datetime(2024, 5, 6, 8, 0))
