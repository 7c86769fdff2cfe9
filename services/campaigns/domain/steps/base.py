"""What one campaign step type declares, and the registry the rest of the service reads.

A step type is one module in this package (`send.py`, `wait.py`, ...) that registers a `StepType`:
its frozen dataclass, the shape of its JSON (a marshmallow schema, checked by the HTTP layer),
its meaning checks, its outgoing edges, and what the engine does when an enrollment reaches it.
Validation, parsing, the engine, the HTTP schema and the handlers all ask the registry, so adding
a type is its module plus one import line in `steps/__init__.py` (docs/conventions.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from marshmallow import RAISE, Schema, fields, validate

from services.campaigns.domain.durations import parse_duration
from services.campaigns.domain.enrollment import Action, Enrollment
from services.campaigns.domain.filters import evaluate
from shared.filters import FilterSyntaxError, parse
from shared.filters import fields as filter_fields

# Field roots a condition may read (suppressions and history are functions of the filter
# language); `step` only in branches and goal checks, where earlier sends have outcomes.
CONDITION_ROOTS = frozenset({"contact", "event", "consent"})
STEP_ROOT = "step"

CHANNEL = validate.Regexp(r"^[a-z][a-z0-9_]{0,31}$", error="must be a lower-case channel name")
STEP_ID = validate.Length(min=1, max=64)
CONDITION_TEXT = validate.Length(max=4000)


@dataclass(frozen=True)
class DefinitionError:
    """One problem in a definition: where it is (e.g. 'steps[2].next') and what is wrong."""

    path: str
    message: str


@dataclass(frozen=True)
class Condition:
    """A filter-language condition: its source text and the parsed expression."""

    text: str
    expr: Any = field(compare=False, repr=False)


class Strict(Schema):
    """A shape that rejects unknown fields."""

    class Meta:
        unknown = RAISE


class StepShape(Strict):
    """The fields every step has; a step type's schema adds its own."""

    id = fields.String(required=True, validate=STEP_ID)
    type = fields.String(required=True)


@dataclass
class Checks:
    """What a step type's meaning check may consult, and where it reports errors."""

    ids: set[str]  # every step id of the definition
    outcome_ids: set[str]  # steps whose outcome a condition may read (`step.<id>.outcome`)
    known_channels: set[str]
    errors: list[DefinitionError]

    def error(self, path: str, message: str) -> None:
        """Report one error."""
        self.errors.append(DefinitionError(path, message))

    def condition(self, text: Any, path: str, steps: bool = False) -> None:
        """Check a condition; `steps=True` lets it read the outcomes of earlier sends."""
        check_condition(text, path, self.errors, self.outcome_ids if steps else None)

    def duration(self, text: Any, path: str) -> None:
        """Check a duration such as '2d' or '90m'."""
        try:
            parse_duration(text)
        except ValueError as exc:
            self.error(path, str(exc))


class _Halt:
    def __repr__(self) -> str:
        return "HALT"


HALT: Any = _Halt()  # `run` returns it when the walk stops at this step (a wait, a goal met)


@dataclass
class Walk:
    """One call of `engine.advance`: what a step's `run` reads, and the actions it emits."""

    campaign: Any  # definition.Campaign (not imported: the definition module imports this one)
    enrollment: Enrollment
    ctx: Any  # the filter context, answering `step.<id>.outcome` too
    now: datetime
    actions: list[Action] = field(default_factory=list)

    def emit(self, action: Action) -> None:
        """Add an action for the handler to carry out."""
        self.actions.append(action)


def next_edge(raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The outgoing edge of a step with a single `next`."""
    return [("next", raw["next"])] if isinstance(raw.get("next"), str) else []


def arm_edges(raw: Mapping[str, Any], arms: str) -> list[tuple[str, str]]:
    """The `next` edges of a list of arms (`branches`, `variants`) as ('<arms>[i].next', target)."""
    return [(f"{arms}[{i}].next", arm["next"]) for i, arm in enumerate(as_list(raw.get(arms)))
            if isinstance(arm, Mapping) and isinstance(arm.get("next"), str)]


@dataclass(frozen=True)
class StepType:
    """Everything the service knows about one step type."""

    name: str  # the `type` in the JSON definition
    model: type  # the frozen dataclass `parse` builds; it has `id`
    schema: type[Schema]  # the JSON shape (a StepShape subclass), checked at the HTTP edge
    parse: Callable[[Mapping[str, Any]], Any]  # a valid raw step -> its dataclass
    check: Callable[[Mapping[str, Any], str, Checks], None]  # meaning errors, reported on Checks
    run: Callable[[Any, Walk], Any]  # emit actions; return the next step id, None (the end) or HALT
    edges: Callable[[Mapping[str, Any]], list[tuple[str, str]]] = next_edge  # outgoing (field path, target)
    sends: bool = False  # sends a message on `channel` with `template`: its outcome is readable, it is previewed
    parks: bool = False  # may park the enrollment until a wake; on resume the walk goes on at its `next`


REGISTRY: dict[str, StepType] = {}
_BY_MODEL: dict[type, StepType] = {}


def register(step_type: StepType) -> StepType:
    """Add a step type (at import of its module); a name is registered once."""
    if step_type.name in REGISTRY:
        raise ValueError(f"step type {step_type.name!r} is registered twice")
    REGISTRY[step_type.name] = _BY_MODEL[step_type.model] = step_type
    return step_type


def type_of(step: Any) -> StepType:
    """The registered type of a parsed step."""
    return _BY_MODEL[type(step)]


def check_condition(
    text: Any, path: str, errors: list[DefinitionError], send_ids: set[str] | None = None
) -> None:
    """Append an error if `text` is not a valid condition; `send_ids` permits `step.<id>` references."""
    if not isinstance(text, str) or not text.strip():
        errors.append(DefinitionError(path, "a condition must be a non-empty string"))
        return
    roots = set(CONDITION_ROOTS) | ({STEP_ROOT} if send_ids is not None else set())
    try:
        expr = parse(text, allowed_roots=roots)
    except FilterSyntaxError as exc:
        errors.append(DefinitionError(path, f"invalid condition at position {exc.position}: {exc.message}"))
        return
    for field_path in sorted(filter_fields(expr)):
        if field_path[0] != STEP_ROOT:
            continue
        if len(field_path) != 3 or field_path[2] != "outcome":
            errors.append(
                DefinitionError(path, f"{'.'.join(field_path)!r}: only step.<step id>.outcome exists")
            )
        elif send_ids is not None and field_path[1] not in send_ids:
            errors.append(
                DefinitionError(path, f"condition refers to {field_path[1]!r}, which is not a send step")
            )


def condition(text: str | None, steps: bool = False) -> Condition | None:
    """Parse a (validated) condition; `steps=True` admits `step.<id>.outcome`."""
    if text is None:
        return None
    roots = set(CONDITION_ROOTS) | ({STEP_ROOT} if steps else set())
    return Condition(text, parse(text, allowed_roots=roots))


def duration(text: str | None) -> timedelta | None:
    """Parse a (validated) duration, None staying None."""
    return parse_duration(text) if text is not None else None


def holds(cond: Condition | None, ctx: Any) -> bool:
    """Whether a condition holds in a context (no condition always holds)."""
    return cond is None or bool(evaluate(cond.expr, ctx))


def as_list(value: Any) -> list[Any]:
    """`value` when it is a list, else an empty one (meaning checks run on unchecked shapes)."""
    return value if isinstance(value, list) else []


def is_int(value: Any) -> bool:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)
