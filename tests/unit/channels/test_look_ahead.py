"""Example tests of the look-ahead rule: a lower-priority marketing message yields the cap slot a
higher-priority planned message of the contact needs (docs/channels.md, "Look-ahead")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.channels.domain import (
    PLAN_GRACE,
    CapScope,
    Category,
    ContactPolicyState,
    Decision,
    FrequencyCap,
    OutboundMessage,
    Outcome,
    PlannedSend,
    PolicyRules,
    Touch,
    apply_decision,
    decide,
    deferred_plan_id,
)

NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
WEEKLY = PolicyRules(caps=(FrequencyCap("weekly", 1, WEEK, CapScope.CATEGORY, Category.MARKETING),))


def low(category: Category = Category.MARKETING, priority: int = 10, channel: str = "email") -> OutboundMessage:
    return OutboundMessage(channel, category, "c1", "broadcast", None, priority, request_id="low")


def plan(priority: int = 80, due_in: timedelta = timedelta(days=2), plan_id: str = "plan:drip",
         category: Category = Category.MARKETING, channel: str = "email") -> PlannedSend:
    return PlannedSend(plan_id, channel, category, priority, NOW + due_in, "drip",
                       step_key=("drip", "send-2", "c1", "1"))


def with_plans(*plans: PlannedSend, touches: tuple[Touch, ...] = ()) -> ContactPolicyState:
    return ContactPolicyState("UTC", touches=touches, planned=plans)


def test_a_lower_priority_message_yields_the_last_slot_and_names_the_cap_and_the_plan():
    decision = decide(low(), with_plans(plan()), WEEKLY, NOW)
    assert (decision.outcome, decision.reason, decision.rule_id, decision.yielded_to) == (
        Outcome.CAP, "look_ahead:weekly", "weekly", "plan:drip")
    assert "plan:drip" in decision.detail and "priority 80 > 10" in decision.detail


def test_only_strictly_higher_priority_plans_hold_a_slot():
    assert decide(low(priority=80), with_plans(plan(priority=80)), WEEKLY, NOW).outcome is Outcome.SEND
    assert decide(low(priority=90), with_plans(plan(priority=80)), WEEKLY, NOW).outcome is Outcome.SEND


def test_a_plan_due_outside_the_window_from_now_holds_nothing():
    assert decide(low(), with_plans(plan(due_in=WEEK)), WEEKLY, NOW).outcome is Outcome.SEND
    assert decide(low(), with_plans(plan(due_in=WEEK - timedelta(seconds=1))), WEEKLY, NOW).outcome is Outcome.CAP


def test_an_overdue_plan_counts_for_the_grace_period_then_is_stale():
    assert decide(low(), with_plans(plan(due_in=-PLAN_GRACE / 2)), WEEKLY, NOW).outcome is Outcome.CAP
    assert decide(low(), with_plans(plan(due_in=-PLAN_GRACE)), WEEKLY, NOW).outcome is Outcome.SEND


def test_a_plan_outside_the_caps_scope_holds_nothing():
    sms_daily = PolicyRules(caps=(FrequencyCap("sms", 1, WEEK, CapScope.CHANNEL, "sms"),))
    assert decide(low(channel="sms"), with_plans(plan(channel="email")), sms_daily, NOW).outcome is Outcome.SEND
    assert decide(low(channel="sms"), with_plans(plan(channel="sms")), sms_daily, NOW).outcome is Outcome.CAP


def test_service_and_transactional_messages_never_yield():
    any_cap = PolicyRules(caps=(FrequencyCap("all", 1, WEEK),))
    assert decide(low(Category.SERVICE), with_plans(plan()), any_cap, NOW).outcome is Outcome.SEND
    assert decide(low(Category.TRANSACTIONAL), with_plans(plan()), any_cap, NOW).outcome is Outcome.SEND


def test_a_service_plan_counted_by_the_cap_holds_a_slot_a_transactional_plan_never():
    any_cap = PolicyRules(caps=(FrequencyCap("all", 1, WEEK),))
    assert decide(low(), with_plans(plan(category=Category.SERVICE)), any_cap, NOW).outcome is Outcome.CAP
    assert decide(low(), with_plans(plan(category=Category.TRANSACTIONAL)), any_cap, NOW).outcome is Outcome.SEND
    # a cap on marketing does not count a service plan
    assert decide(low(), with_plans(plan(category=Category.SERVICE)), WEEKLY, NOW).outcome is Outcome.SEND


def test_each_plan_holds_one_slot_and_the_plan_left_short_is_named():
    three = PolicyRules(caps=(FrequencyCap("weekly", 3, WEEK, CapScope.CATEGORY, Category.MARKETING),))
    later, sooner = plan(plan_id="later", due_in=timedelta(days=3)), plan(plan_id="sooner", due_in=timedelta(days=1))
    assert decide(low(), with_plans(later, sooner), three, NOW).outcome is Outcome.SEND  # 0 used + 2 held < 3
    sent = Touch("email", Category.MARKETING, "other", None, NOW - timedelta(days=1))
    decision = decide(low(), with_plans(later, sooner, touches=(sent,)), three, NOW)  # 1 used + 2 held
    # "sooner" still finds 2 of 3 in its window; "later" would find the touch, the low one and "sooner"
    assert (decision.outcome, decision.yielded_to) == (Outcome.CAP, "later")


def test_a_touch_that_leaves_the_window_before_the_plan_is_due_takes_no_slot_from_it():
    """The failure Hypothesis found in the conservative count: a low message yielded to a plan whose
    window, when it is due, no longer holds the earlier touches."""
    three = PolicyRules(caps=(FrequencyCap("weekly", 3, WEEK, CapScope.CATEGORY, Category.MARKETING),))
    far = plan(plan_id="far", due_in=timedelta(days=6, hours=23))
    old = tuple(Touch("email", Category.MARKETING, "other", None, NOW - timedelta(days=days)) for days in (1, 2))
    # 2 used + 1 held = 3, but when "far" is due the two old touches are out of its window: 2 of 3 there
    assert decide(low(), with_plans(far, touches=old), three, NOW).outcome is Outcome.SEND
    near = plan(plan_id="near", due_in=timedelta(hours=1))  # due while both old touches still count
    decision = decide(low(), with_plans(near, touches=old), three, NOW)
    assert (decision.outcome, decision.yielded_to) == (Outcome.CAP, "near")


def test_a_full_cap_is_a_plain_cap_not_a_look_ahead():
    sent = Touch("email", Category.MARKETING, "other", None, NOW - timedelta(days=1))
    decision = decide(low(), with_plans(plan(), touches=(sent,)), WEEKLY, NOW)
    assert (decision.reason, decision.yielded_to) == ("cap:weekly", None)


def test_the_planned_message_itself_takes_its_slot_and_stops_being_a_plan():
    drip = OutboundMessage("email", Category.MARKETING, "c1", "drip", None, 80, request_id="r-drip",
                           step_id="send-2", occurrence="1")
    state = with_plans(plan())
    decision = decide(drip, state, WEEKLY, NOW)
    assert decision.outcome is Outcome.SEND
    assert apply_decision(state, drip, decision, NOW).planned == ()


def test_a_deferral_plans_the_message_for_when_it_comes_back():
    message = OutboundMessage("email", Category.MARKETING, "c1", None, None, 50, request_id="r1")
    deferral = Decision(Outcome.DEFER, "quiet_hours", defer_until=NOW + timedelta(hours=8))
    after = apply_decision(ContactPolicyState("UTC"), message, deferral, NOW)
    assert [(p.plan_id, p.priority, p.due_at) for p in after.planned] == [
        (deferred_plan_id("r1"), 50, NOW + timedelta(hours=8))]
    # a lower-priority message now yields to the deferred one; the deferred one, back, sends
    assert decide(low(), after, WEEKLY, NOW).yielded_to == deferred_plan_id("r1")
    back = OutboundMessage("email", Category.MARKETING, "c1", None, None, 50, request_id="r1", attempt=1)
    assert decide(back, after, WEEKLY, NOW + timedelta(hours=8)).outcome is Outcome.SEND
