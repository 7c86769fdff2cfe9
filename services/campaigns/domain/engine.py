"""The enrollment engine: pure decisions over a campaign, one enrollment's state and the contact.

`advance` walks from the enrollment's position through branches, splits, goal checks and
sends until it reaches a wait or the end, and returns the actions the handler must carry
out. A send does not stop the walk: it emits SendMessage and moves straight on to its
`next`, so consecutive sends without a wait are allowed. A branch that needs a send's
outcome (`step.<id>.outcome`) should therefore come after a wait, when the outcome is known.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from services.campaigns.domain.definition import (
    BranchStep,
    Campaign,
    Condition,
    EventEntry,
    ExitGoal,
    GoalCheckStep,
    Reentry,
    SendStep,
    SplitStep,
    SplitVariant,
    WaitStep,
)
from services.campaigns.domain.durations import next_local_time
from services.campaigns.domain.filters import evaluate
from services.campaigns.domain.validation import STEP_ROOT

Outcome = Literal["completed", "converted", "exited"]


@dataclass(frozen=True)
class EnrollmentState:
    """Where one contact stands in one campaign.

    `current_step` is the step to run next (None: not started). While parked on a wait,
    `current_step` is that wait and `waiting_until` its due time; calling `advance` before
    then does nothing, so an early or repeated wake-up is harmless.
    """

    campaign_id: str
    version: int
    contact_id: str
    current_step: str | None = None
    waiting_until: datetime | None = None
    step_outcomes: Mapping[str, str] = field(default_factory=dict)
    occurrence: int | str = 1  # which run of the trigger: an event id, a broadcast's fire time
    timezone: str = "UTC"


@dataclass(frozen=True)
class SendMessage:
    """Ask the dispatch gate to send this step's message; `key` makes the send idempotent."""

    step_id: str
    channel: str
    template: str | Mapping[str, str]
    priority: int
    expires_at: datetime | None
    occurrence: int | str
    key: str
    category: str
    topic: str | None


@dataclass(frozen=True)
class ScheduleWake:
    """Park the enrollment on wait step `step_id` and wake it at `due_at` (UTC)."""

    step_id: str
    due_at: datetime


@dataclass(frozen=True)
class RecordSplit:
    """Record which A/B variant the contact was assigned at split step `step_id`."""

    step_id: str
    variant: str


@dataclass(frozen=True)
class Complete:
    """End the enrollment with its outcome; `reason` says why when it is not plain completion."""

    outcome: Outcome
    reason: str = ""


Action = SendMessage | ScheduleWake | RecordSplit | Complete


class StepOutcomeContext:
    """A filter context that answers `step.<id>.outcome` and delegates everything else to `inner`.

    A send without a recorded outcome yet reads as None, so `step.x.outcome == 'opened'` is
    false until the channel reports back.
    """

    def __init__(self, inner: Any, outcomes: Mapping[str, str]) -> None:
        self.inner = inner
        self.outcomes = outcomes

    def resolve(self, path: tuple[str, ...]) -> Any:
        """`step.<id>.outcome` from the recorded outcomes; any other path from the inner context."""
        if path[:1] != (STEP_ROOT,):
            return self.inner.resolve(path)
        if len(path) == 3 and path[2] == "outcome":
            return self.outcomes.get(path[1])
        return None

    def has_consent(self, channel: str) -> bool:
        """Delegates to the inner context."""
        return bool(self.inner.has_consent(channel))

    def is_suppressed(self, channel: str | None, topic: str | None) -> bool:
        """Delegates to the inner context."""
        return bool(self.inner.is_suppressed(channel, topic))

    def events(self, event_type: str, since: datetime | None) -> Iterable[Mapping[str, Any]]:
        """Delegates to the inner context."""
        return self.inner.events(event_type, since)

    def now(self) -> datetime:
        """Delegates to the inner context."""
        return self.inner.now()


def matches_trigger(campaign: Campaign, event: Mapping[str, Any], contact_ctx: Any) -> bool:
    """Whether `event` enrolls the contact in an event-triggered campaign."""
    entry = campaign.entry
    if not isinstance(entry, EventEntry) or event_type(event) != entry.event_type:
        return False
    return _holds(entry.condition, contact_ctx)


def exit_goal_reached(campaign: Campaign, event: Mapping[str, Any], ctx: Any) -> ExitGoal | None:
    """The first exit goal that `event` meets for an enrolled contact, or None."""
    kind = event_type(event)
    for goal in campaign.exit_goals:
        if goal.event_type == kind and _holds(goal.condition, ctx):
            return goal
    return None


def may_reenter(
    reentry: Reentry, previous_enrollments_end_times: Sequence[datetime | None], now: datetime
) -> bool:
    """Whether a contact with these earlier enrollments (None = still active) may enroll again."""
    if not previous_enrollments_end_times:
        return True
    if any(end is None for end in previous_enrollments_end_times):
        return False  # one contact is enrolled at most once at a time, whatever the policy
    if reentry.policy == "always":
        return True
    if reentry.policy == "cooldown" and reentry.cooldown is not None:
        last_end = max(end for end in previous_enrollments_end_times if end is not None)
        return now - last_end >= reentry.cooldown
    return False


MAX_KEY_LENGTH = 128  # request ids travel in contracts that cap ids at this length


def message_key(campaign_id: str, version: int, step_id: str, contact_id: str, occurrence: int | str) -> str:
    """The idempotency key of one send: the same inputs always give the same key.

    A key that would exceed MAX_KEY_LENGTH (long contact or event ids) becomes the sha256 of
    the readable form, which is just as stable and distinct.
    """
    key = f"cmp:{campaign_id}:v{version}:{step_id}:{contact_id}:{occurrence}"
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return "cmp:" + hashlib.sha256(key.encode()).hexdigest()


def assign_variant(campaign_id: str, step_id: str, contact_id: str, variants: Sequence[SplitVariant]) -> str:
    """Stably assign a contact to a variant, in proportion to the weights (sha256 of the ids)."""
    if not variants:
        raise ValueError("a split needs at least one variant")
    digest = hashlib.sha256(f"{campaign_id}\x1f{step_id}\x1f{contact_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * sum(v.weight for v in variants)
    upper = 0.0
    for variant in variants:
        upper += variant.weight
        if point < upper:
            return variant.name
    return variants[-1].name  # float rounding at the very top of the range


def event_type(event: Mapping[str, Any]) -> str | None:
    """The type of an event mapping (key 'type', or 'event_type')."""
    return event.get("type", event.get("event_type"))


def advance(campaign: Campaign, enrollment_state: EnrollmentState, ctx: Any, now: datetime) -> list[Action]:
    """Walk the enrollment from its current step to the next wait or the end; return the actions."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    state = enrollment_state
    step_ctx = StepOutcomeContext(ctx, state.step_outcomes)
    actions: list[Action] = []
    current: str | None = state.current_step or campaign.start_step
    if state.current_step is not None and state.waiting_until is not None:
        parked = campaign.steps_by_id.get(state.current_step)
        if isinstance(parked, WaitStep):
            if now < state.waiting_until:
                return []
            current = parked.next
    # Validation forbids cycles, so a walk visits each step at most once; the bound guards
    # against a definition that bypassed validation.
    for _ in range(len(campaign.steps) + 1):
        if current is None:
            actions.append(Complete("completed"))
            return actions
        step = campaign.steps_by_id.get(current)
        if step is None:
            actions.append(Complete("exited", f"step {current!r} is not in this campaign version"))
            return actions
        if isinstance(step, WaitStep):
            actions.append(ScheduleWake(step.id, wake_time(step, state.timezone, now)))
            return actions
        if isinstance(step, SendStep):
            actions.append(_send(campaign, state, step, now))
            current = step.next
        elif isinstance(step, BranchStep):
            current = next((b.next for b in step.branches if _holds(b.condition, step_ctx)), step.else_next)
        elif isinstance(step, SplitStep):
            name = assign_variant(state.campaign_id, step.id, state.contact_id, step.variants)
            actions.append(RecordSplit(step.id, name))
            current = next(v.next for v in step.variants if v.name == name)
        elif isinstance(step, GoalCheckStep):
            if _holds(step.condition, step_ctx):
                actions.append(Complete("converted", f"goal check {step.id!r} met"))
                return actions
            current = step.next
    actions.append(Complete("exited", "the step graph has a cycle"))
    return actions


def wake_time(step: WaitStep, tz_name: str, now: datetime) -> datetime:
    """When a wait step started at `now` ends: after its duration, or at its next local time of day."""
    if step.duration is not None:
        return now + step.duration
    if step.until is None:
        return now + timedelta(0)
    return next_local_time(step.until, tz_name, now)


def _send(campaign: Campaign, state: EnrollmentState, step: SendStep, now: datetime) -> SendMessage:
    return SendMessage(
        step_id=step.id,
        channel=step.channel,
        template=step.template,
        priority=step.priority if step.priority is not None else campaign.priority,
        expires_at=now + step.expires_after if step.expires_after is not None else None,
        occurrence=state.occurrence,
        key=message_key(state.campaign_id, state.version, step.id, state.contact_id, state.occurrence),
        category=campaign.category,
        topic=campaign.topic,
    )


def _holds(condition: Condition | None, ctx: Any) -> bool:
    return condition is None or bool(evaluate(condition.expr, ctx))
