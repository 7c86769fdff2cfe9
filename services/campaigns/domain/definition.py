"""The campaign definition model: frozen dataclasses parsed from the JSON a marketer posts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Literal

from services.campaigns.domain.steps import REGISTRY, type_of
from services.campaigns.domain.steps.base import Condition, DefinitionError, condition, duration
from services.campaigns.domain.steps.branch import Branch, BranchStep
from services.campaigns.domain.steps.goal_check import GoalCheckStep
from services.campaigns.domain.steps.send import SendStep
from services.campaigns.domain.steps.split import SplitStep, SplitVariant
from services.campaigns.domain.steps.wait import WaitStep
from services.campaigns.domain.validation import validate_definition
from shared import config

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


# A parsed step: the dataclass of its type in domain/steps/ (SendStep, WaitStep, ...); each has `id`.
Step = Any


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

    @cached_property
    def parks(self) -> bool:
        """Whether an enrollment may be parked (on a wait) and so needs the contact again later."""
        return any(type_of(step).parks for step in self.steps)


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
    return REGISTRY[raw["type"]].parse(raw)


def _condition(text: str | None, steps: bool = False) -> Condition | None:
    return condition(text, steps)


def _duration(text: str | None) -> timedelta | None:
    return duration(text)
