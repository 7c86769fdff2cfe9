"""The campaign definition model: frozen dataclasses parsed from the JSON a marketer posts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import cached_property
from typing import Any, Literal

from services.campaigns.domain.durations import parse_duration, parse_time_of_day
from services.campaigns.domain.validation import (
    CONDITION_ROOTS,
    STEP_ROOT,
    DefinitionError,
    validate_definition,
)
from shared import config
from shared.filters import parse

__all__ = [
    "Branch",
    "BranchStep",
    "Campaign",
    "Condition",
    "DefinitionError",
    "DefinitionInvalid",
    "EventEntry",
    "ExitGoal",
    "GoalCheckStep",
    "Reentry",
    "SegmentEntry",
    "SendStep",
    "SplitStep",
    "SplitVariant",
    "Step",
    "WaitStep",
    "DEFAULT_CHANNELS",
    "parse_definition",
    "validate_definition",
]

Category = Literal["marketing", "service", "transactional"]
# Without a configured list (tests, the domain alone): the deployment default of shared.config.
DEFAULT_CHANNELS = frozenset(config.DEFAULT_CHANNELS)


class DefinitionInvalid(ValueError):
    """Raised by parse_definition when a definition has errors; `.errors` lists them all."""

    def __init__(self, errors: list[DefinitionError]) -> None:
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class Condition:
    """A filter-language condition: its source text and the parsed expression."""

    text: str
    expr: Any = field(compare=False, repr=False)


@dataclass(frozen=True)
class SegmentEntry:
    """Enroll a segment's members at a fixed time (`at`) or on a cron schedule in a time zone."""

    segment_id: str
    at: datetime | None = None
    cron: str | None = None
    timezone: str = "UTC"
    start_step: str | None = None
    type: Literal["segment"] = "segment"


@dataclass(frozen=True)
class EventEntry:
    """Enroll a contact when an event of `event_type` arrives and the condition holds."""

    event_type: str
    condition: Condition | None = None
    start_step: str | None = None
    type: Literal["event"] = "event"


@dataclass(frozen=True)
class SendStep:
    """Send a message on a channel with a stored template id or an inline {subject, body, html}."""

    id: str
    channel: str
    template: str | Mapping[str, str]
    priority: int | None = None
    expires_after: timedelta | None = None
    next: str | None = None


@dataclass(frozen=True)
class WaitStep:
    """Wait a fixed duration, or until the next local time of day in the contact's time zone."""

    id: str
    duration: timedelta | None = None
    until: time | None = None
    next: str | None = None


@dataclass(frozen=True)
class Branch:
    """One arm of a branch step: if `condition` holds, go to `next`."""

    condition: Condition
    next: str | None


@dataclass(frozen=True)
class BranchStep:
    """Go to the first arm whose condition holds, else to `else_next` (None ends the enrollment)."""

    id: str
    branches: tuple[Branch, ...]
    else_next: str | None = None


@dataclass(frozen=True)
class SplitVariant:
    """One arm of an A/B split with its relative weight."""

    name: str
    weight: float
    next: str | None


@dataclass(frozen=True)
class SplitStep:
    """Assign the contact to a variant, stably, in proportion to the weights."""

    id: str
    variants: tuple[SplitVariant, ...]


@dataclass(frozen=True)
class GoalCheckStep:
    """If the condition holds the enrollment ends as converted, else it goes on to `next`."""

    id: str
    condition: Condition
    next: str | None = None


Step = SendStep | WaitStep | BranchStep | SplitStep | GoalCheckStep


@dataclass(frozen=True)
class ExitGoal:
    """An event that ends an enrollment as converted, optionally suppressing a topic for good."""

    event_type: str
    condition: Condition | None = None
    suppress_topic: str | None = None


@dataclass(frozen=True)
class Reentry:
    """Whether a contact may enroll again: never, always, or after a cooldown since the last end."""

    policy: Literal["never", "always", "cooldown"] = "never"
    cooldown: timedelta | None = None


@dataclass(frozen=True)
class Campaign:
    """A validated campaign definition."""

    name: str
    category: Category
    priority: int
    topic: str | None
    entry: SegmentEntry | EventEntry
    steps: tuple[Step, ...]
    exit_goals: tuple[ExitGoal, ...] = ()
    reentry: Reentry = Reentry()

    @property
    def start_step(self) -> str:
        """The id of the first step: the entry's start_step, else the first listed step."""
        return self.entry.start_step or self.steps[0].id

    @cached_property
    def steps_by_id(self) -> dict[str, Step]:
        """Steps keyed by id."""
        return {step.id: step for step in self.steps}


def parse_definition(
    raw: Mapping[str, Any], known_channels: set[str] | frozenset[str] = DEFAULT_CHANNELS
) -> Campaign:
    """Validate a raw definition and build the Campaign; raise DefinitionInvalid listing every error."""
    errors = validate_definition(raw, set(known_channels))
    if errors:
        raise DefinitionInvalid(errors)
    reentry = raw.get("reentry") or {"policy": "never"}
    return Campaign(
        name=raw["name"],
        category=raw["category"],
        priority=raw.get("priority", 0),
        topic=raw.get("topic"),
        entry=_entry(raw["entry"]),
        steps=tuple(_step(step) for step in raw["steps"]),
        exit_goals=tuple(
            ExitGoal(g["event_type"], _condition(g.get("condition")), g.get("suppress_topic"))
            for g in raw.get("exit_goals", [])
        ),
        reentry=Reentry(reentry["policy"], _duration(reentry.get("cooldown"))),
    )


def _entry(raw: Mapping[str, Any]) -> SegmentEntry | EventEntry:
    if raw["type"] == "event":
        return EventEntry(raw["event_type"], _condition(raw.get("condition")), raw.get("start_step"))
    schedule = raw["schedule"]
    return SegmentEntry(
        segment_id=raw["segment_id"],
        at=datetime.fromisoformat(schedule["at"]) if "at" in schedule else None,
        cron=schedule.get("cron"),
        timezone=schedule.get("timezone", "UTC"),
        start_step=raw.get("start_step"),
    )


def _step(raw: Mapping[str, Any]) -> Step:
    kind, step_id, nxt = raw["type"], raw["id"], raw.get("next")
    if kind == "send":
        template = raw["template"] if isinstance(raw["template"], str) else dict(raw["template"])
        return SendStep(
            step_id, raw["channel"], template, raw.get("priority"), _duration(raw.get("expires_after")), nxt
        )
    if kind == "wait":
        until = parse_time_of_day(raw["until"]) if "until" in raw else None
        return WaitStep(step_id, _duration(raw.get("duration")), until, nxt)
    if kind == "branch":
        branches = tuple(
            Branch(_condition(b["condition"], steps=True), b.get("next")) for b in raw["branches"]
        )
        return BranchStep(step_id, branches, raw.get("else"))
    if kind == "split":
        return SplitStep(
            step_id, tuple(SplitVariant(v["name"], v["weight"], v.get("next")) for v in raw["variants"])
        )
    return GoalCheckStep(step_id, _condition(raw["condition"], steps=True), nxt)


def _condition(text: str | None, steps: bool = False) -> Condition | None:
    if text is None:
        return None
    roots = set(CONDITION_ROOTS) | ({STEP_ROOT} if steps else set())
    return Condition(text, parse(text, allowed_roots=roots))


def _duration(text: str | None) -> timedelta | None:
    return parse_duration(text) if text is not None else None
