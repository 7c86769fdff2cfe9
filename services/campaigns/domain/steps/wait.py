"""`wait`: park the enrollment for a duration, or until the next local time of day of the contact."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from marshmallow import fields

from services.campaigns.domain.durations import next_local_time, parse_time_of_day
from services.campaigns.domain.enrollment import ScheduleWake
from services.campaigns.domain.steps.base import (
    HALT,
    STEP_ID,
    Checks,
    StepShape,
    StepType,
    Walk,
    duration,
    register,
)


@dataclass(frozen=True)
class WaitStep:
    """Wait a fixed duration, or until the next local time of day in the contact's time zone."""

    id: str
    duration: timedelta | None = None
    until: time | None = None
    next: str | None = None


class WaitStepSchema(StepShape):
    """Wait a duration or until a local time of day."""

    duration = fields.String()
    until = fields.String()
    next = fields.String(allow_none=True, validate=STEP_ID)


def parse(raw: Mapping[str, Any]) -> WaitStep:
    """The step of a valid raw definition."""
    until = parse_time_of_day(raw["until"]) if "until" in raw else None
    return WaitStep(raw["id"], duration(raw.get("duration")), until, raw.get("next"))


def check(step: Mapping[str, Any], path: str, checks: Checks) -> None:
    """Exactly one of a valid duration or a valid time of day."""
    has_duration, has_until = "duration" in step, "until" in step
    if has_duration == has_until:
        checks.error(path, "a wait needs exactly one of 'duration' or 'until'")
    elif has_duration:
        checks.duration(step["duration"], f"{path}.duration")
    else:
        try:
            parse_time_of_day(step["until"])
        except ValueError as exc:
            checks.error(f"{path}.until", str(exc))


def wake_time(step: WaitStep, tz_name: str, now: datetime) -> datetime:
    """When a wait step started at `now` ends: after its duration, or at its next local time of day."""
    if step.duration is not None:
        return now + step.duration
    if step.until is None:
        return now + timedelta(0)
    return next_local_time(step.until, tz_name, now)


def run(step: WaitStep, walk: Walk) -> Any:
    """Park here until the wake time; the engine resumes at `next` once it has passed."""
    walk.emit(ScheduleWake(step.id, wake_time(step, walk.enrollment.timezone, walk.now)))
    return HALT


WAIT = register(StepType("wait", WaitStep, WaitStepSchema, parse, check, run, parks=True))
