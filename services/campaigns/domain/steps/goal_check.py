"""`goal_check`: if the condition holds the enrollment ends as converted, else it goes on to `next`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import fields

from services.campaigns.domain.enrollment import Complete
from services.campaigns.domain.steps.base import (
    CONDITION_TEXT,
    HALT,
    STEP_ID,
    Checks,
    Condition,
    StepShape,
    StepType,
    Walk,
    condition,
    holds,
    register,
)


@dataclass(frozen=True)
class GoalCheckStep:
    """If the condition holds the enrollment ends as converted, else it goes on to `next`."""

    id: str
    condition: Condition
    next: str | None = None


class GoalCheckStepSchema(StepShape):
    """End as converted when the condition holds."""

    condition = fields.String(required=True, validate=CONDITION_TEXT)
    next = fields.String(allow_none=True, validate=STEP_ID)


def parse(raw: Mapping[str, Any]) -> GoalCheckStep:
    """The step of a valid raw definition."""
    return GoalCheckStep(raw["id"], condition(raw["condition"], steps=True), raw.get("next"))


def check(step: Mapping[str, Any], path: str, checks: Checks) -> None:
    """A valid condition (it may read the outcomes of sends)."""
    checks.condition(step.get("condition"), f"{path}.condition", steps=True)


def run(step: GoalCheckStep, walk: Walk) -> Any:
    """End as converted when the goal is met, else go on."""
    if holds(step.condition, walk.ctx):
        walk.emit(Complete("converted", f"goal check {step.id!r} met"))
        return HALT
    return step.next


GOAL_CHECK = register(StepType("goal_check", GoalCheckStep, GoalCheckStepSchema, parse, check, run))
