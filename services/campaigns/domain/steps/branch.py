"""`branch`: go to the first arm whose condition holds, else to `else` (None ends the enrollment)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import fields

from services.campaigns.domain.steps.base import (
    CONDITION_TEXT,
    STEP_ID,
    Checks,
    Condition,
    StepShape,
    StepType,
    Strict,
    Walk,
    arm_edges,
    as_list,
    condition,
    holds,
    register,
)


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


class BranchArmSchema(Strict):
    """One arm of a branch."""

    condition = fields.String(required=True, validate=CONDITION_TEXT)
    next = fields.String(allow_none=True, validate=STEP_ID)


class BranchStepSchema(StepShape):
    """Go to the first arm whose condition holds."""

    branches = fields.List(fields.Nested(BranchArmSchema), required=True)
    # `else` is a Python keyword, hence data_key.
    else_ = fields.String(data_key="else", attribute="else", allow_none=True, validate=STEP_ID)


def parse(raw: Mapping[str, Any]) -> BranchStep:
    """The step of a valid raw definition."""
    arms = tuple(Branch(condition(b["condition"], steps=True), b.get("next")) for b in raw["branches"])
    return BranchStep(raw["id"], arms, raw.get("else"))


def edges(raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """`next` (unused but checked), each arm's `next`, and `else`."""
    found = [("next", raw["next"])] if isinstance(raw.get("next"), str) else []
    found += arm_edges(raw, "branches")
    if isinstance(raw.get("else"), str):
        found.append(("else", raw["else"]))
    return found


def check(step: Mapping[str, Any], path: str, checks: Checks) -> None:
    """At least one arm, every condition valid (it may read the outcomes of sends)."""
    arms = as_list(step.get("branches"))
    if not arms:
        checks.error(f"{path}.branches", "a branch needs at least one condition")
    for i, arm in enumerate(arms):
        text = arm.get("condition") if isinstance(arm, Mapping) else None
        checks.condition(text, f"{path}.branches[{i}].condition", steps=True)


def run(step: BranchStep, walk: Walk) -> str | None:
    """The first arm that holds, else `else`."""
    return next((b.next for b in step.branches if holds(b.condition, walk.ctx)), step.else_next)


BRANCH = register(StepType("branch", BranchStep, BranchStepSchema, parse, check, run, edges=edges))
