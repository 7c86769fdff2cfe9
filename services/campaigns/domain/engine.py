"""The enrollment engine: pure decisions over a campaign, one enrollment's state and the contact.

`advance` walks from the enrollment's position through branches, splits, goal checks and
sends until it reaches a wait or the end, and returns the actions the handler must carry
out. A send does not stop the walk: it emits SendMessage and moves straight on to its
`next`, so consecutive sends without a wait are allowed. A branch that needs a send's
outcome (`step.<id>.outcome`) should therefore come after a wait, when the outcome is known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from services.campaigns.domain.definition import Campaign, EventEntry, ExitGoal, Reentry
from services.campaigns.domain.enrollment import (
    MAX_KEY_LENGTH,
    Action,
    Complete,
    Enrollment,
    Outcome,
    RecordSplit,
    ScheduleWake,
    SendMessage,
    message_key,
)
from services.campaigns.domain.steps import HALT, type_of
from services.campaigns.domain.steps.base import STEP_ROOT, Walk, holds
from services.campaigns.domain.steps.send import SendStep
from services.campaigns.domain.steps.split import assign_variant
from services.campaigns.domain.steps.wait import wake_time

# Re-exported: callers and tests name the actions and keys through the engine.
__all__ = ["MAX_KEY_LENGTH", "Action", "Complete", "Enrollment", "Outcome", "RecordSplit", "ScheduleWake",
           "SendMessage", "StepOutcomeContext", "advance", "assign_variant", "event_type", "exit_goal_reached",
           "matches_trigger", "may_reenter", "message_key", "send_after_wait", "wake_time"]


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


def send_after_wait(campaign: Campaign, wait_step_id: str | None) -> SendStep | None:
    """The send step that runs right after wait step `wait_step_id`, if it is one: the message an enrollment
    parked on that wait is planned to send when it wakes (announced to the gate's look-ahead rule).

    Only the step right after the wait: a send behind a branch or a split may not happen at all.
    """
    wait = campaign.steps_by_id.get(wait_step_id) if wait_step_id else None
    following = campaign.steps_by_id.get(wait.next) if wait is not None and wait.next else None
    return following if isinstance(following, SendStep) else None


def matches_trigger(campaign: Campaign, event: Mapping[str, Any], contact_ctx: Any) -> bool:
    """Whether `event` enrolls the contact in an event-triggered campaign."""
    entry = campaign.entry
    if not isinstance(entry, EventEntry) or event_type(event) != entry.event_type:
        return False
    return holds(entry.condition, contact_ctx)


def exit_goal_reached(campaign: Campaign, event: Mapping[str, Any], ctx: Any) -> ExitGoal | None:
    """The first exit goal that `event` meets for an enrolled contact, or None."""
    kind = event_type(event)
    for goal in campaign.exit_goals:
        if goal.event_type == kind and holds(goal.condition, ctx):
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


def event_type(event: Mapping[str, Any]) -> str | None:
    """The type of an event mapping (key 'type', or 'event_type')."""
    return event.get("type", event.get("event_type"))


def advance(campaign: Campaign, enrollment: Enrollment, ctx: Any, now: datetime) -> list[Action]:
    """Walk the enrollment from its current step to the next wait or the end; return the actions.

    Each step's type (domain/steps/) says what it emits and where the walk goes next.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    walk = Walk(campaign, enrollment, StepOutcomeContext(ctx, enrollment.step_outcomes), now)
    current: str | None = enrollment.current_step or campaign.start_step
    if enrollment.current_step is not None and enrollment.waiting_until is not None:
        parked = campaign.steps_by_id.get(enrollment.current_step)
        if parked is not None and type_of(parked).parks:
            if now < enrollment.waiting_until:
                return []
            current = parked.next
    # Validation forbids cycles, so a walk visits each step at most once; the bound guards
    # against a definition that bypassed validation.
    for _ in range(len(campaign.steps) + 1):
        if current is None:
            walk.emit(Complete("completed"))
            return walk.actions
        step = campaign.steps_by_id.get(current)
        if step is None:
            walk.emit(Complete("exited", f"step {current!r} is not in this campaign version"))
            return walk.actions
        current = type_of(step).run(step, walk)
        if current is HALT:
            return walk.actions
    walk.emit(Complete("exited", "the step graph has a cycle"))
    return walk.actions
