"""`split`: assign the contact to an A/B variant, stably and in proportion to the weights."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from marshmallow import fields, validate

from services.campaigns.domain.enrollment import RecordSplit
from services.campaigns.domain.steps.base import (
    STEP_ID,
    Checks,
    StepShape,
    StepType,
    Strict,
    Walk,
    arm_edges,
    as_list,
    register,
)


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


class VariantSchema(Strict):
    """One arm of an A/B split."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    weight = fields.Float(required=True)
    next = fields.String(allow_none=True, validate=STEP_ID)


class SplitStepSchema(StepShape):
    """An A/B split."""

    variants = fields.List(fields.Nested(VariantSchema), required=True)


def parse(raw: Mapping[str, Any]) -> SplitStep:
    """The step of a valid raw definition."""
    return SplitStep(raw["id"], tuple(SplitVariant(v["name"], v["weight"], v.get("next")) for v in raw["variants"]))


def edges(raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """`next` (unused but checked) and each variant's `next`."""
    found = [("next", raw["next"])] if isinstance(raw.get("next"), str) else []
    return found + arm_edges(raw, "variants")


def check(step: Mapping[str, Any], path: str, checks: Checks) -> None:
    """At least two variants, unique names, positive weights."""
    variants = as_list(step.get("variants"))
    if len(variants) < 2:
        checks.error(f"{path}.variants", "a split needs at least two variants")
    names: set[str] = set()
    for i, variant in enumerate(variants):
        if not isinstance(variant, Mapping):
            checks.error(f"{path}.variants[{i}]", "a variant must be an object")
            continue
        name = variant.get("name")
        if not isinstance(name, str) or not name or name in names:
            checks.error(f"{path}.variants[{i}].name", f"variant name {name!r} is missing or not unique")
        if isinstance(name, str):
            names.add(name)
        weight = variant.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
            checks.error(f"{path}.variants[{i}].weight", "weight must be a positive number")


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


def run(step: SplitStep, walk: Walk) -> str | None:
    """Record the contact's variant and follow it."""
    name = assign_variant(walk.enrollment.campaign_id, step.id, walk.enrollment.contact_id, step.variants)
    walk.emit(RecordSplit(step.id, name))
    return next(v.next for v in step.variants if v.name == name)


SPLIT = register(StepType("split", SplitStep, SplitStepSchema, parse, check, run, edges=edges))
