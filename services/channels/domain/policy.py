"""The dispatch gate's decision: one pure function over one contact's state.

The rules run in a fixed order and the first that objects decides: already decided (a
redelivery), the step-occurrence duplicate (invariant 3), expiry, suppression, consent, the global
control group, quiet hours, frequency caps, the marketing gap and capacity. The caller holds the
contact's lock (and the capacity counters' locks) and writes the decision together with the touch it
reserves, so the counts seen here are the counts that hold (invariant 1); `apply_decision` gives the
state the next message of the same batch is decided on, `apply_capacity` the capacity usage.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from services.channels.domain.capacity import NO_USAGE, CapacityUsage, capacity_keys, check_capacity
from services.channels.domain.model import (
    CapScope,
    Category,
    ConsentStatus,
    ContactPolicyState,
    Decision,
    FrequencyCap,
    OutboundMessage,
    Outcome,
    PlannedSend,
    PolicyRules,
    PriorDecisions,
    Suppression,
    SuppressionScope,
    Touch,
    TouchState,
)
from services.channels.domain.quiet_hours import SEARCH_HORIZON, next_window_start, resolve_time_zone

MIN_GAP_RULE_ID = "min_gap"
CONTROL_GROUP_RULE_ID = "control_group"
LOOK_AHEAD_REASON = "look_ahead"  # reason `look_ahead:<cap id>`: a slot is held for a higher-priority plan
# A plan due a little while ago still counts: its request may be on its way to the gate right now
# (the scheduler fired, campaigns is rendering). Older plans are stale (their message never came).
PLAN_GRACE = timedelta(hours=1)

_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)
_SCOPE_RANK = {SuppressionScope.GLOBAL: 0, SuppressionScope.CHANNEL: 1, SuppressionScope.TOPIC: 2}


def _utc(moment: datetime) -> datetime:
    # Aware datetimes sharing a tzinfo compare and subtract by wall clock, ignoring DST;
    # all arithmetic here is done in UTC to count real elapsed time.
    return moment.astimezone(UTC)


def _minus(moment: datetime, span: timedelta) -> datetime:
    try:
        return _utc(moment) - span
    except OverflowError:
        return _EARLIEST


def _plus(moment: datetime, span: timedelta) -> datetime:
    try:
        return _utc(moment) + span
    except OverflowError:
        return _LATEST


def _describe(span: timedelta) -> str:
    for unit, size in (
        ("day", timedelta(days=1)),
        ("hour", timedelta(hours=1)),
        ("minute", timedelta(minutes=1)),
    ):
        if span >= size and span % size == timedelta(0):
            count = span // size
            return f"{count} {unit}" + ("" if count == 1 else "s")
    return str(span)


def suppression_blocks(suppression: Suppression, message: OutboundMessage, now: datetime) -> bool:
    """True when ``suppression`` is active at ``now`` and forbids sending ``message``."""
    if not suppression.is_active(now):
        return False
    if suppression.scope is SuppressionScope.TOPIC:
        # A product hold or topic opt-out only silences offers about that topic.
        return (
            message.category is Category.MARKETING
            and message.topic is not None
            and suppression.value == message.topic
        )
    if suppression.scope is SuppressionScope.CHANNEL and suppression.value != message.channel:
        return False
    return message.category is not Category.TRANSACTIONAL or suppression.reason.is_hard


def blocking_suppression(
    message: OutboundMessage, suppressions: Iterable[Suppression], now: datetime
) -> Suppression | None:
    """The suppression that stops ``message`` at ``now`` (broadest and hardest first), if any."""
    blocking = [s for s in suppressions if suppression_blocks(s, message, now)]
    if not blocking:
        return None
    return min(blocking, key=lambda s: (_SCOPE_RANK[s.scope], not s.reason.is_hard, s.id))


def cap_applies(cap: FrequencyCap, message: OutboundMessage) -> bool:
    """True when ``message`` is subject to ``cap``; transactional messages never are."""
    if message.category is Category.TRANSACTIONAL:
        return False
    if cap.scope is CapScope.CHANNEL:
        return message.channel == cap.scope_value
    if cap.scope is CapScope.CATEGORY:
        return message.category == cap.scope_value
    if cap.scope is CapScope.CAMPAIGN:
        return message.campaign_id == cap.scope_value
    return True


def _touch_in_scope(cap: FrequencyCap, touch: Touch | PlannedSend) -> bool:
    # Transactional touches bypass every cap, so they never count against one either;
    # otherwise a receipt could push a contact "over" a cap it was never subject to.
    if touch.category is Category.TRANSACTIONAL:
        return False
    if cap.scope is CapScope.CHANNEL:
        return touch.channel == cap.scope_value
    if cap.scope is CapScope.CATEGORY:
        return touch.category == cap.scope_value
    if cap.scope is CapScope.CAMPAIGN:
        return touch.campaign_id == cap.scope_value
    return True


def touches_in_scope(cap: FrequencyCap, touches: Iterable[Touch], now: datetime) -> list[Touch]:
    """The touches counting against ``cap`` at ``now``: non-transactional, in scope, at > now - window."""
    since = _minus(now, cap.window)
    return [t for t in touches if _touch_in_scope(cap, t) and _utc(t.at) > since]


def reservations(cap: FrequencyCap, message: OutboundMessage, planned: Iterable[PlannedSend],
                 now: datetime) -> list[PlannedSend]:
    """The plans that hold a slot of ``cap`` against ``message`` at ``now``, earliest due first.

    A plan holds one slot when its priority is strictly higher than the message's, ``cap`` counts it
    (transactional plans never), and it is due inside the cap's window from now (a touch now would still
    be in the window the plan is counted in when it is sent), or overdue by less than PLAN_GRACE. Only
    marketing messages give way; for any other message nothing is reserved.
    """
    if message.category is not Category.MARKETING:
        return []
    since, until = _minus(now, PLAN_GRACE), _plus(now, cap.window)
    held = [p for p in planned if p.priority > message.priority and _touch_in_scope(cap, p)
            and since < _utc(p.due_at) < until]
    return sorted(held, key=lambda p: (_utc(p.due_at), -p.priority, p.plan_id))


def _plan_left_short(cap: FrequencyCap, touches: Iterable[Touch], held: Sequence[PlannedSend],
                     now: datetime) -> tuple[PlannedSend, int] | None:
    """The first held plan that a touch now would leave without a slot of ``cap``, with the count it would find.

    Walks the held plans earliest due first, giving each its touch when due (an overdue one now) after a
    touch for the message now: a plan is left short when the touches in its own window, at its due time,
    already reach the limit. Touches that leave the window before a plan is due do not count against it,
    so a message yields only when the plans really make the difference.
    """
    now = _utc(now)
    taken = [_utc(t.at) for t in touches_in_scope(cap, touches, now)] + [now]
    for plan in held:
        due = max(_utc(plan.due_at), now)
        since = _minus(due, cap.window)
        count = sum(1 for at in taken if since < at <= due)
        if count >= cap.limit:
            return plan, count
        taken.append(due)
    return None


def _cap_noun(cap: FrequencyCap) -> str:
    if cap.scope in (CapScope.CHANNEL, CapScope.CATEGORY):
        return f"{cap.scope_value} touches"
    if cap.scope is CapScope.CAMPAIGN:
        return f"touches of campaign {cap.scope_value}"
    return "touches"


def _check_already_decided(message: OutboundMessage, state: ContactPolicyState) -> Decision | None:
    prior = state.decided.get(message.request_id)
    if prior is not None and prior.covers(message.attempt):
        return Decision(Outcome.ALREADY_DECIDED, "already_decided",
                        detail=f"request {message.request_id} (attempt {message.attempt}) was decided before")
    return None


def _check_duplicate_step(message: OutboundMessage, state: ContactPolicyState) -> Decision | None:
    key = message.step_key
    if key is not None and key in state.live_steps:
        return Decision(Outcome.DUPLICATE, "duplicate:step_occurrence",
                        detail="this campaign step already has a send for this occurrence")
    return None


def _check_expiry(message: OutboundMessage, now: datetime) -> Decision | None:
    if message.expires_at is not None and _utc(message.expires_at) <= now:
        return Decision(
            Outcome.EXPIRE, "expired", detail=f"expired at {_utc(message.expires_at).isoformat()}"
        )
    return None


def _check_suppression(message: OutboundMessage, state: ContactPolicyState, now: datetime) -> Decision | None:
    suppression = blocking_suppression(message, state.suppressions, now)
    if suppression is None:
        return None
    where = "" if suppression.scope is SuppressionScope.GLOBAL else f" for {suppression.value}"
    return Decision(
        Outcome.SUPPRESS,
        f"suppressed:{suppression.scope.value}:{suppression.reason.value}",
        rule_id=suppression.id,
        detail=f"contact is suppressed ({suppression.scope.value}{where}): {suppression.reason.value}",
    )


def _check_consent(
    message: OutboundMessage, state: ContactPolicyState, rules: PolicyRules
) -> Decision | None:
    if message.category is not Category.MARKETING:
        return None
    consent = state.consent_for(message.channel)
    if message.channel in rules.opt_in_channels and consent is not ConsentStatus.GRANTED:
        return Decision(
            Outcome.SUPPRESS,
            "consent_missing",
            detail=f"marketing on {message.channel} needs opt-in consent; consent is {consent.value}",
        )
    if consent is ConsentStatus.DENIED:
        # On opt-out channels silence is consent, but a recorded refusal still stops marketing.
        return Decision(
            Outcome.SUPPRESS, "consent_denied", detail=f"contact refused marketing on {message.channel}"
        )
    return None


def _check_control_group(message: OutboundMessage, rules: PolicyRules) -> Decision | None:
    # After suppression and consent, so a contact who also opted out is recorded with that reason;
    # before quiet hours, so a control contact's message is not deferred only to be held back later.
    group = rules.control_group
    if message.category is not Category.MARKETING or group is None or not group.contains(message.contact_id):
        return None
    return Decision(
        Outcome.SUPPRESS,
        CONTROL_GROUP_RULE_ID,
        rule_id=CONTROL_GROUP_RULE_ID,
        detail=f"contact is in the global control group ({group.percent:g} % of contacts, salt {group.salt!r})",
    )


def _check_quiet_hours(
    message: OutboundMessage, state: ContactPolicyState, rules: PolicyRules, now: datetime
) -> Decision | None:
    if message.category is Category.TRANSACTIONAL:
        return None
    windows = rules.quiet_hours.for_channel(message.channel)
    tz = resolve_time_zone(state.time_zone)
    opens = next_window_start(windows, tz, now)
    if opens == now:
        return None
    if opens is None:
        # Unreachable with real zones; come back later rather than drop the message.
        opens = _plus(now, SEARCH_HORIZON)
        next_text = f"no window opens within {_describe(SEARCH_HORIZON)}"
    else:
        next_text = f"the next opens {opens.astimezone(tz):%a %Y-%m-%d %H:%M %Z}"
    outside = f"{now.astimezone(tz):%a %H:%M %Z} is outside the {message.channel} send windows"
    if message.expires_at is not None and _utc(message.expires_at) <= opens:
        return Decision(
            Outcome.EXPIRE,
            "expired:quiet_hours",
            detail=f"{outside} and the message expires before {next_text}",
        )
    return Decision(Outcome.DEFER, "quiet_hours", defer_until=opens, detail=f"{outside}; {next_text}")


def _check_caps(
    message: OutboundMessage, state: ContactPolicyState, rules: PolicyRules, now: datetime
) -> Decision | None:
    for cap in rules.caps:
        if not cap_applies(cap, message):
            continue
        used = len(touches_in_scope(cap, state.touches, now))
        if used >= cap.limit:
            return Decision(
                Outcome.CAP,
                f"cap:{cap.id}",
                rule_id=cap.id,
                detail=f"{used} of {cap.limit} {_cap_noun(cap)} in {_describe(cap.window)} already used",
            )
        held = reservations(cap, message, state.planned, now) if state.planned else []
        short = _plan_left_short(cap, state.touches, held, now) if held else None
        if short is not None:
            plan, count = short
            return Decision(
                Outcome.CAP,
                f"{LOOK_AHEAD_REASON}:{cap.id}",
                rule_id=cap.id,
                yielded_to=plan.plan_id,
                detail=(f"{used} of {cap.limit} {_cap_noun(cap)} in {_describe(cap.window)} used; sending now "
                        f"would leave {count} in the window of {plan.plan_id} (priority {plan.priority} > "
                        f"{message.priority}, due {_utc(plan.due_at).isoformat()}), which needs a slot"),
            )
    gap = rules.min_marketing_gap
    if message.category is Category.MARKETING and gap:
        marketing = [_utc(t.at) for t in state.touches if t.category is Category.MARKETING]
        if marketing and now < _plus(max(marketing), gap):
            return Decision(
                Outcome.CAP,
                MIN_GAP_RULE_ID,
                rule_id=MIN_GAP_RULE_ID,
                detail=f"last marketing touch at {max(marketing).isoformat()}, less than {_describe(gap)} ago",
            )
    return None


def still_deliverable(
    message: OutboundMessage, state: ContactPolicyState, rules: PolicyRules, now: datetime
) -> Decision | None:
    """Re-check right before an adapter call: the suppression or consent refusal that arrived since the
    decision, if any (caps and quiet hours were settled by the gate and hold for the reserved touch)."""
    now = _utc(now)
    return _check_suppression(message, state, now) or _check_consent(message, state, rules)


def decide(
    message: OutboundMessage, state: ContactPolicyState, rules: PolicyRules, now: datetime,
    capacity: CapacityUsage = NO_USAGE,
) -> Decision:
    """Decide whether ``message`` may be sent to the contact at ``now`` (an aware datetime).

    ``capacity`` is the usage of the capacity rules' current windows (nothing used when omitted).
    Capacity comes last: a message the contact's own rules stop never waits for, nor takes, a unit.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = _utc(now)
    return (
        _check_already_decided(message, state)
        or _check_duplicate_step(message, state)
        or _check_expiry(message, now)
        or _check_suppression(message, state, now)
        or _check_consent(message, state, rules)
        or _check_control_group(message, rules)
        or _check_quiet_hours(message, state, rules, now)
        or _check_caps(message, state, rules, now)
        or check_capacity(message, rules.capacity, capacity, now)
        or Decision(Outcome.SEND, "send", detail="passed every rule")
    )


def apply_decision(
    state: ContactPolicyState, message: OutboundMessage, decision: Decision, now: datetime
) -> ContactPolicyState:
    """The contact's state after ``decision`` was recorded: the request counts as decided, a send holds
    a reserved touch and its step occurrence, a message that was planned is no longer a plan, and a
    deferred one is planned for when it comes back; so the next message of a batch sees all of it."""
    if decision.outcome is Outcome.ALREADY_DECIDED:
        return state
    prior = state.decided.get(message.request_id, PriorDecisions())
    decided = {**state.decided, message.request_id: PriorDecisions(
        prior.attempts | {message.attempt}, prior.final or decision.is_final)}
    planned = state.planned
    if planned and any(p.is_for(message) for p in planned):
        planned = tuple(p for p in planned if not p.is_for(message))
    if decision.outcome is Outcome.DEFER:
        planned = (*planned, deferred_plan(message, decision))
    if decision.outcome is not Outcome.SEND:
        return _evolve(state, decided=MappingProxyType(decided), planned=planned)
    touch = Touch(message.channel, message.category, message.campaign_id, message.topic, now, TouchState.RESERVED)
    key = message.step_key
    live = state.live_steps if key is None else state.live_steps | {key}
    return _evolve(state, decided=MappingProxyType(decided), touches=(*state.touches, touch), live_steps=live,
                   planned=planned)


def deferred_plan_id(request_id: str) -> str:
    """The plan id of a deferred request (one per request: a later deferral moves its due time)."""
    return f"deferred:{request_id}"


def deferred_plan(message: OutboundMessage, decision: Decision) -> PlannedSend:
    """The plan a deferral makes: the message comes back to the gate at ``defer_until``."""
    assert decision.defer_until is not None
    return PlannedSend(deferred_plan_id(message.request_id), message.channel, message.category, message.priority,
                       decision.defer_until, message.campaign_id, request_id=message.request_id)


def apply_capacity(usage: CapacityUsage, message: OutboundMessage, decision: Decision, rules: PolicyRules,
                   now: datetime) -> CapacityUsage:
    """The capacity usage after ``decision``: a send takes one unit of every capacity rule that applies."""
    if decision.outcome is not Outcome.SEND:
        return usage
    return usage.plus(capacity_keys(message, rules.capacity, now))


def _evolve(state: ContactPolicyState, **changes: object) -> ContactPolicyState:
    # The gate applies one decision per request; `dataclasses.replace` would re-validate the whole
    # state each time (as costly as `decide`). Every value here is already of its validated type.
    new = object.__new__(ContactPolicyState)
    for name in ContactPolicyState.__slots__:
        object.__setattr__(new, name, changes[name] if name in changes else getattr(state, name))
    return new
