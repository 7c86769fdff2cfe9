"""One enrollment (one contact in one campaign version) and the actions the engine decides for it.

`Enrollment` is the single model of an enrollment: the repository reads it from a row, the engine
walks it, and `settle` gives the enrollment as it stands after the engine's actions, which the
handler then writes (an update, or the insert of a new enrollment, alike).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

Outcome = Literal["completed", "converted", "exited"]
MAX_KEY_LENGTH = 128  # request ids travel in contracts that cap ids at this length


@dataclass(frozen=True)
class Enrollment:
    """Where one contact stands in one campaign version.

    `current_step` is the step to run next (None: not started). While parked on a wait,
    `current_step` is that wait and `waiting_until` its due time; advancing before then does
    nothing, so an early or repeated wake-up is harmless. `timezone` is the contact's (for
    waits until a local time of day), not stored.
    """

    campaign_id: str
    version: int
    contact_id: str
    enrollment_id: str = ""
    occurrence: int | str = 1  # which run of the trigger: an event id, a broadcast's fire time
    status: str = "active"
    current_step: str | None = None
    waiting_until: datetime | None = None
    step_outcomes: Mapping[str, str] = field(default_factory=dict)
    variant: str | None = None
    reason: str | None = None
    ended_at: datetime | None = None
    trigger_event: Mapping[str, Any] | None = None
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


def settle(enrollment: Enrollment, actions: Sequence[Action], now: datetime) -> Enrollment:
    """The enrollment after the engine's actions: its variant, where it waits, or how it ended."""
    settled = replace(enrollment, status="active", waiting_until=None, reason=None, ended_at=None)
    for action in actions:
        if isinstance(action, RecordSplit):
            settled = replace(settled, variant=action.variant)
        elif isinstance(action, ScheduleWake):
            settled = replace(settled, current_step=action.step_id, waiting_until=action.due_at)
        elif isinstance(action, Complete):
            settled = replace(settled, status=action.outcome, reason=action.reason or None, ended_at=now,
                              current_step=None)
    return settled


def message_key(campaign_id: str, version: int, step_id: str, contact_id: str, occurrence: int | str) -> str:
    """The idempotency key of one send: the same inputs always give the same key.

    A key that would exceed MAX_KEY_LENGTH (long contact or event ids) becomes the sha256 of
    the readable form, which is just as stable and distinct.
    """
    key = f"cmp:{campaign_id}:v{version}:{step_id}:{contact_id}:{occurrence}"
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return "cmp:" + hashlib.sha256(key.encode()).hexdigest()
