"""Which gate rules apply to which message category: one case per cell of the table in docs/channels.md.

Each row sets up exactly one rule that could object (everything else passes), then decides the same
message in each of the three categories. The table in docs/channels.md ("Service messages: which rules
apply") names this file; a row there and a row here must change together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import pytest

from services.channels.domain import (
    CapacityRule,
    CapacityUsage,
    CapScope,
    Category,
    ContactPolicyState,
    ControlGroup,
    FrequencyCap,
    OutboundMessage,
    Outcome,
    PlannedSend,
    PolicyRules,
    PriorDecisions,
    QuietHours,
    SendWindow,
    Suppression,
    Touch,
    apply_capacity,
    decide,
)

NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)  # a Monday, 14:00 in Berlin
GRANTED = {"email": "granted", "sms": "granted", "call": "granted", "web": "granted"}
T, S, M = Category.TRANSACTIONAL, Category.SERVICE, Category.MARKETING


@dataclass(frozen=True)
class Setup:
    """One row's world: the message's extra fields, the contact's state and the rules."""

    rules: PolicyRules = PolicyRules()
    suppressions: tuple[Suppression, ...] = ()
    touches: tuple[Touch, ...] = ()
    consents: tuple[tuple[str, str], ...] = tuple(GRANTED.items())
    decided: tuple[tuple[str, PriorDecisions], ...] = ()
    live_steps: frozenset = frozenset()
    channel: str = "email"
    topic: str | None = None
    expires_at: datetime | None = None
    contact_id: str = "c1"
    capacity: CapacityUsage = CapacityUsage()
    planned: tuple[PlannedSend, ...] = ()


def _message(setup: Setup, category: Category) -> OutboundMessage:
    return OutboundMessage(setup.channel, category, setup.contact_id, "spring", setup.topic, 0, setup.expires_at,
                           request_id="r1", attempt=0, step_id="s1", occurrence="o1")


def _decide(setup: Setup, category: Category):
    state = ContactPolicyState("Europe/Berlin", dict(setup.consents), setup.suppressions, setup.touches,
                               dict(setup.decided), setup.live_steps, setup.planned)
    return decide(_message(setup, category), state, setup.rules, NOW, setup.capacity)


def _touch(category: Category, ago: timedelta = timedelta(hours=1)) -> Touch:
    return Touch("email", category, "spring", None, NOW - ago)


GROUP = ControlGroup(50, "table")
CONTROL_MEMBER = next(f"c{i}" for i in range(1000) if GROUP.contains(f"c{i}"))


EMAIL_DAILY = CapacityRule("email-daily", "email", 1, "day", "Europe/Berlin")


def _cap_all(limit: int = 1) -> PolicyRules:
    return PolicyRules(caps=(FrequencyCap("one-a-day", limit, timedelta(days=1), CapScope.ALL),))


def _plan(category: Category = S) -> PlannedSend:
    """A higher-priority (9 > 0) message planned for the contact in two hours, inside the one-a-day cap's window."""
    return PlannedSend("plan-1", "email", category, 9, NOW + timedelta(hours=2), campaign_id="alerts")


# Each row: (row id as named in docs/channels.md, setup builder, {category: (outcome, reason)}).
SEND = (Outcome.SEND, "send")
ROWS: list[tuple[str, Callable[[], Setup], dict[Category, tuple[Outcome, str]]]] = [
    ("already_decided", lambda: Setup(decided=(("r1", PriorDecisions(frozenset({0}), True)),)),
     dict.fromkeys((T, S, M), (Outcome.ALREADY_DECIDED, "already_decided"))),
    ("duplicate_step", lambda: Setup(live_steps=frozenset({("spring", "s1", "c1", "o1")})),
     dict.fromkeys((T, S, M), (Outcome.DUPLICATE, "duplicate:step_occurrence"))),
    ("expiry", lambda: Setup(expires_at=NOW - timedelta(minutes=1)),
     dict.fromkeys((T, S, M), (Outcome.EXPIRE, "expired"))),
    ("hard_suppression", lambda: Setup(suppressions=(Suppression("x1", "channel", "email", "bounced"),)),
     dict.fromkeys((T, S, M), (Outcome.SUPPRESS, "suppressed:channel:bounced"))),
    ("soft_suppression", lambda: Setup(suppressions=(Suppression("x1", "global", None, "unsubscribed"),)),
     {T: SEND, S: (Outcome.SUPPRESS, "suppressed:global:unsubscribed"),
      M: (Outcome.SUPPRESS, "suppressed:global:unsubscribed")}),
    ("topic_suppression", lambda: Setup(topic="mortgage",
                                        suppressions=(Suppression("x1", "topic", "mortgage", "product_held"),)),
     {T: SEND, S: SEND, M: (Outcome.SUPPRESS, "suppressed:topic:product_held")}),
    ("consent_missing", lambda: Setup(consents=(), rules=PolicyRules(opt_in_channels=frozenset({"email"}))),
     {T: SEND, S: SEND, M: (Outcome.SUPPRESS, "consent_missing")}),
    ("control_group", lambda: Setup(contact_id=CONTROL_MEMBER, rules=PolicyRules(control_group=GROUP)),
     {T: SEND, S: SEND, M: (Outcome.SUPPRESS, "control_group")}),
    ("consent_denied", lambda: Setup(consents=(("email", "denied"),)),
     {T: SEND, S: SEND, M: (Outcome.SUPPRESS, "consent_denied")}),
    # 14:00 Berlin is outside an 18:00-20:00 window: deferred to 18:00 local.
    ("quiet_hours", lambda: Setup(rules=PolicyRules(quiet_hours=QuietHours(
        {"email": (SendWindow(frozenset(range(7)), time(18), time(20)),)}))),
     {T: SEND, S: (Outcome.DEFER, "quiet_hours"), M: (Outcome.DEFER, "quiet_hours")}),
    ("frequency_cap", lambda: Setup(rules=_cap_all(), touches=(_touch(S),)),
     {T: SEND, S: (Outcome.CAP, "cap:one-a-day"), M: (Outcome.CAP, "cap:one-a-day")}),
    ("marketing_gap", lambda: Setup(rules=PolicyRules(min_marketing_gap=timedelta(hours=4)), touches=(_touch(M),)),
     {T: SEND, S: SEND, M: (Outcome.CAP, "min_gap")}),
    # One touch a day and a higher-priority message planned for later today: marketing yields the slot.
    ("look_ahead", lambda: Setup(rules=_cap_all(), planned=(_plan(),)),
     {T: SEND, S: SEND, M: (Outcome.CAP, "look_ahead:one-a-day")}),
    # Today's (Berlin) one unit of email capacity is taken: deferred to midnight in Berlin.
    ("capacity", lambda: Setup(rules=PolicyRules(capacity=(EMAIL_DAILY,)),
                               capacity=CapacityUsage({EMAIL_DAILY.key(NOW): 1})),
     {T: SEND, S: (Outcome.DEFER, "capacity"), M: (Outcome.DEFER, "capacity")}),
]

# "Counts against caps": the row varies the category of the earlier touch, not of the message; the message
# decided is always marketing under a cap of one touch a day over all channels.
COUNTS = {T: SEND, S: (Outcome.CAP, "cap:one-a-day"), M: (Outcome.CAP, "cap:one-a-day")}

CASES = [pytest.param(row, build, category, expected[category], id=f"{row}-{category.value}")
         for row, build, expected in ROWS for category in (T, S, M)]


@pytest.mark.parametrize(("row", "build", "category", "expected"), CASES)
def test_rule_applies_per_category(row: str, build: Callable[[], Setup], category: Category,
                                   expected: tuple[Outcome, str]) -> None:
    decision = _decide(build(), category)
    assert (decision.outcome, decision.reason) == expected, (row, decision)


@pytest.mark.parametrize("category", [T, S, M], ids=lambda c: c.value)
def test_touch_counts_against_caps(category: Category) -> None:
    decision = _decide(Setup(rules=_cap_all(), touches=(_touch(category),)), M)
    assert (decision.outcome, decision.reason) == COUNTS[category]


# "Holds a cap slot": the row varies the category of the higher-priority planned message, not of the message;
# the message decided is always marketing (the only category that yields) under a cap of one touch a day.
HOLDS = {T: SEND, S: (Outcome.CAP, "look_ahead:one-a-day"), M: (Outcome.CAP, "look_ahead:one-a-day")}


@pytest.mark.parametrize("category", [T, S, M], ids=lambda c: c.value)
def test_planned_message_holds_a_cap_slot(category: Category) -> None:
    """Row "holds a cap slot": a planned service or marketing message keeps a slot from lower-priority marketing."""
    decision = _decide(Setup(rules=_cap_all(), planned=(_plan(category),)), M)
    assert (decision.outcome, decision.reason) == HOLDS[category]
    if category is not T:
        assert decision.yielded_to == "plan-1" and decision.rule_id == "one-a-day"


@pytest.mark.parametrize("category", [T, S, M], ids=lambda c: c.value)
def test_send_takes_capacity(category: Category) -> None:
    """Row "takes capacity": a send takes a unit of the capacity rules on its channel, unless transactional."""
    setup = Setup(rules=PolicyRules(capacity=(EMAIL_DAILY,)))
    decision = _decide(setup, category)
    assert decision.outcome is Outcome.SEND
    usage = apply_capacity(setup.capacity, _message(setup, category), decision, setup.rules, NOW)
    assert usage.of(EMAIL_DAILY.key(NOW)) == (0 if category is T else 1)


@pytest.mark.parametrize("category", [T, S, M], ids=lambda c: c.value)
def test_nothing_objects_sends_every_category(category: Category) -> None:
    """The baseline every row starts from: with no rule objecting, each category is sent."""
    assert _decide(Setup(), category).outcome is Outcome.SEND


def test_no_cap_can_target_transactional() -> None:
    """A category cap on transactional messages is refused when built (PUT /policy answers 422)."""
    with pytest.raises(ValueError, match="never capped"):
        FrequencyCap("receipts", 1, timedelta(days=1), CapScope.CATEGORY, "transactional")


def test_no_capacity_rule_can_target_transactional() -> None:
    """A capacity rule on transactional messages is refused when built (PUT /policy answers 422)."""
    with pytest.raises(ValueError, match="transactional"):
        CapacityRule("receipts", "email", 1, "day", "UTC", category="transactional")
