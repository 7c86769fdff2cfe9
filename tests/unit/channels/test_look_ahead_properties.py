"""Property tests of `decide` with planned messages (the look-ahead rule) and with capacity.

Each property restates the documented rule (docs/channels.md, "Look-ahead") as an oracle written here,
never with the helpers of the module under test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
    PlannedSend,
    PolicyRules,
    Touch,
    apply_capacity,
    apply_decision,
    decide,
)
from tests.properties import examples
from tests.unit.channels import test_capacity as cap_props
from tests.unit.channels import test_policy_properties as props

GRACE = timedelta(hours=1)
NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)

plan_specs = st.lists(
    st.tuples(
        st.sampled_from(props.CHANNELS),
        props.categories,
        st.sampled_from(props.CAMPAIGNS),
        st.integers(0, 9),  # priority
        st.integers(-90, 4 * 1440),  # due, minutes from now
    ),
    max_size=5,
)
PlanSpec = tuple[str, Category, "str | None", int, int]


def make_plans(specs: list[PlanSpec], now: datetime) -> tuple[PlannedSend, ...]:
    return tuple(PlannedSend(f"p{i}", channel, category, priority, now + timedelta(minutes=due), campaign)
                 for i, (channel, category, campaign, priority, due) in enumerate(specs))


def oracle_holds(cap: FrequencyCap, message: OutboundMessage, plan: PlannedSend, now: datetime) -> bool:
    """The documented rule: a plan holds a slot of `cap` against a marketing message when its priority is
    strictly higher, the cap counts it, and it is due before now + window (or overdue by less than the grace)."""
    as_touch = Touch(plan.channel, plan.category, plan.campaign_id, None, plan.due_at)
    return (message.category == "marketing" and plan.priority > message.priority
            and props.oracle_in_scope(cap, as_touch) and now - GRACE < plan.due_at < now + cap.window)


def oracle_applies(cap: FrequencyCap, message: OutboundMessage) -> bool:
    return props.oracle_in_scope(cap, Touch(message.channel, message.category, message.campaign_id, None, NOW))


# (f) a message that is sent never leaves a higher-priority plan without its slot


@settings(max_examples=examples(2000), deadline=None)
@given(cap_rules=props.caps(), message=props.any_messages, touch_spec=props.touch_specs, plan_spec=plan_specs,
       now=props.instants)
def test_f_a_sent_message_leaves_every_higher_plan_its_slot(cap_rules, message, touch_spec, plan_spec, now):
    touches, plans = props.make_touches(touch_spec, now), make_plans(plan_spec, now)
    decision = decide(message, ContactPolicyState("UTC", touches=touches, planned=plans), PolicyRules(caps=cap_rules),
                      now)
    assert decision.outcome in (Outcome.SEND, Outcome.CAP)
    if decision.outcome is not Outcome.SEND or message.category != "marketing":
        return
    for cap in cap_rules:
        if not oracle_applies(cap, message):
            continue
        # Give the message its touch now, then each higher plan its touch when due (an overdue one now),
        # earliest first: every one of them still finds the cap below its limit.
        taken = [t.at for t in touches if props.oracle_in_scope(cap, t)] + [now]
        for plan in sorted((p for p in plans if oracle_holds(cap, message, p, now)), key=lambda p: p.due_at):
            due = max(plan.due_at, now)
            assert sum(1 for at in taken if due - cap.window < at <= due) < cap.limit, (cap, plan)
            taken.append(due)


# (g) a look-ahead decision names a plan that holds a slot, and happens only when the plans make the difference


@settings(max_examples=examples(2000), deadline=None)
@given(cap_rules=props.caps(), message=props.any_messages, touch_spec=props.touch_specs, plan_spec=plan_specs,
       now=props.instants)
def test_g_a_yield_names_a_higher_plan_in_scope_and_only_plans_make_it_yield(cap_rules, message, touch_spec,
                                                                             plan_spec, now):
    touches, plans = props.make_touches(touch_spec, now), make_plans(plan_spec, now)
    rules = PolicyRules(caps=cap_rules)
    decision = decide(message, ContactPolicyState("UTC", touches=touches, planned=plans), rules, now)
    without = decide(message, ContactPolicyState("UTC", touches=touches), rules, now)
    if not decision.reason.startswith("look_ahead:"):
        assert decision == without
        return
    cap = next(c for c in cap_rules if c.id == decision.rule_id)
    assert decision.reason == f"look_ahead:{cap.id}" and decision.outcome is Outcome.CAP
    named = next(p for p in plans if p.plan_id == decision.yielded_to)
    assert oracle_holds(cap, message, named, now)
    used = sum(1 for t in touches if props.oracle_in_scope(cap, t) and now - cap.window < t.at <= now)
    held = sum(1 for p in plans if oracle_holds(cap, message, p, now))
    assert used < cap.limit <= used + held
    assert without.outcome is Outcome.SEND or without.reason != decision.reason


# (h) with no plan of higher priority, nothing changes


@settings(max_examples=examples(1000), deadline=None)
@given(message=props.any_messages, now=props.instants, zone=st.sampled_from(props.ZONES),
       suppression_spec=props.suppression_specs, touch_spec=props.touch_specs, consents=props.consent_maps,
       plan_spec=plan_specs)
def test_h_without_higher_priority_plans_decisions_are_unchanged(message, now, zone, suppression_spec, touch_spec,
                                                                 consents, plan_spec):
    plans = tuple(p for p in make_plans(plan_spec, now)
                  if p.priority <= message.priority or p.category == "transactional")
    base = ContactPolicyState(zone, consents, props.make_suppressions(suppression_spec, now),
                              props.make_touches(touch_spec, now))
    planned = ContactPolicyState(zone, consents, base.suppressions, base.touches, planned=plans)
    rules = PolicyRules.defaults()
    assert decide(message, planned, rules, now) == decide(message, base, rules, now)
    if message.category != "marketing":  # service and transactional messages never yield, whatever is planned
        everything = ContactPolicyState(zone, consents, base.suppressions, base.touches,
                                        planned=make_plans(plan_spec, now))
        assert decide(message, everything, rules, now) == decide(message, base, rules, now)


# (i) over a stream: every planned message that would be sent without the lower-priority traffic is sent with it


low_stream = st.lists(st.tuples(st.integers(0, 3 * 1440), st.sampled_from(props.CHANNELS),
                                st.sampled_from(props.CAMPAIGNS), st.integers(0, 4)), max_size=12)
plan_stream = st.lists(st.tuples(st.integers(1, 3 * 1440), st.sampled_from(props.CHANNELS),
                                 st.sampled_from([Category.MARKETING, Category.SERVICE]), st.integers(5, 9)),
                       max_size=4)


def _run(cap_rules, touches, plans, lows, now):
    """Decide every message in time order (at equal times the plan first, as the gate orders by priority);
    return the plan ids sent."""
    rules = PolicyRules(caps=cap_rules)
    state = ContactPolicyState("UTC", touches=touches, planned=tuple(p for p, _ in plans))
    events = sorted([(p.due_at, 0, m) for p, m in plans] + [(at, 1, m) for at, m in lows], key=lambda e: e[:2])
    sent = set()
    for at, _, msg in events:
        decision = decide(msg, state, rules, at)
        state = apply_decision(state, msg, decision, at)
        if decision.outcome is Outcome.SEND and msg.step_id:
            sent.add(msg.step_id)
    return sent


@settings(max_examples=examples(1500), deadline=None)
@given(cap_rules=props.caps(), touch_spec=props.touch_specs, plan_spec=plan_stream, low_spec=low_stream)
def test_i_lower_priority_traffic_never_takes_a_planned_messages_slot(cap_rules, touch_spec, plan_spec, low_spec):
    now = NOW
    touches = props.make_touches(touch_spec, now)
    plans = []
    for i, (due, channel, category, priority) in enumerate(plan_spec):
        step = f"s{i}"
        plan = PlannedSend(f"plan:{step}", channel, category, priority, now + timedelta(minutes=due), "drip",
                           step_key=("drip", step, "c1", "1"))
        plans.append((plan, OutboundMessage(channel, category, "c1", "drip", None, priority, request_id=step,
                                            step_id=step, occurrence="1")))
    lows = [(now + timedelta(minutes=at), OutboundMessage(channel, Category.MARKETING, "c1", campaign, None, priority,
                                                          request_id=f"low{i}"))
            for i, (at, channel, campaign, priority) in enumerate(low_spec)]
    assert _run(cap_rules, touches, plans, [], now) <= _run(cap_rules, touches, plans, lows, now)


# (j) capacity and caps hold over any stream, plans or not


@settings(max_examples=examples(500), deadline=None)
@given(cap_rules=props.caps(), capacity_specs=st.lists(cap_props.capacity_rules, min_size=1, max_size=3),
       plan_spec=plan_specs,
       stream=st.lists(st.tuples(st.integers(0, 12 * 60), props.any_messages), max_size=30))
def test_j_a_stream_never_exceeds_a_cap_or_a_capacity_window(cap_rules, capacity_specs, plan_spec, stream):
    rules = PolicyRules(caps=cap_rules, capacity=tuple(
        CapacityRule(f"r{i}", ch, limit, window, cap_props.oracle_zone(window, zone), when_full, cat)
        for i, (window, zone, when_full, ch, cat, limit) in enumerate(capacity_specs)))
    now = NOW
    state = ContactPolicyState("UTC", planned=make_plans(plan_spec, now))
    usage = CapacityUsage()
    sent: list[Touch] = []
    for minutes, message in stream:
        now += timedelta(minutes=minutes)
        decision = decide(message, state, rules, now, usage)
        state = apply_decision(state, message, decision, now)
        usage = apply_capacity(usage, message, decision, rules, now)
        if decision.outcome is Outcome.SEND:
            sent.append(Touch(message.channel, message.category, message.campaign_id, None, now))
        for rule in rules.capacity:
            assert usage.of(rule.key(now)) <= rule.limit
    for cap in cap_rules:
        counted = [t.at for t in sent if props.oracle_in_scope(cap, t)]
        for end in counted:
            assert sum(1 for at in counted if end - cap.window < at <= end) <= cap.limit, cap
    for rule in rules.capacity:  # recount every window from the sends themselves
        per_window: dict[datetime, int] = {}
        for t in sent:
            if (t.category != "transactional" and t.channel == rule.channel
                    and rule.category in (None, t.category)):
                start = cap_props.oracle_window(t.at, rule.window.value, rule.time_zone)[0]
                per_window[start] = per_window.get(start, 0) + 1
        assert all(count <= rule.limit for count in per_window.values()), rule
