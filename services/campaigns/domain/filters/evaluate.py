"""Evaluate a filter AST in Python against an EvaluationContext (pure: the context owns all data)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from shared.filters.nodes import (
    And,
    Compare,
    Count,
    Did,
    Expr,
    Field,
    HasConsent,
    InList,
    IsNull,
    Literal,
    Not,
    Or,
    Suppressed,
)
from shared.filters.values import compare


class EvaluationContext(Protocol):
    """What evaluation may ask about one contact (and, for trigger conditions, one event)."""

    def resolve(self, path: tuple[str, ...]) -> Any:
        """The value at a field path, or None when missing."""
        ...

    def has_consent(self, channel: str) -> bool:
        """Whether the contact has granted consent on the channel."""
        ...

    def is_suppressed(self, channel: str | None, topic: str | None) -> bool:
        """Whether an active suppression applies (global, or matching channel/topic)."""
        ...

    def events(self, event_type: str, since: datetime | None) -> Iterable[Mapping[str, Any]]:
        """Data dicts of the contact's events of a type that occurred at or after `since`."""
        ...

    def now(self) -> datetime:
        """The evaluation's notion of the current time."""
        ...


def evaluate(expr: Expr, ctx: EvaluationContext) -> bool:
    """Whether the expression holds for the context; never raises on odd data, only on odd ASTs."""
    if isinstance(expr, And):
        return all(evaluate(item, ctx) for item in expr.items)
    if isinstance(expr, Or):
        return any(evaluate(item, ctx) for item in expr.items)
    if isinstance(expr, Not):
        return not evaluate(expr.item, ctx)
    if isinstance(expr, Compare):
        return compare(expr.op, _value(expr.left, ctx), _value(expr.right, ctx))
    if isinstance(expr, InList):
        value = _value(expr.item, ctx)
        if expr.negated:
            return value is not None and all(compare("!=", value, item.value) for item in expr.values)
        return any(compare("==", value, item.value) for item in expr.values)
    if isinstance(expr, IsNull):
        return (_value(expr.item, ctx) is None) != expr.negated
    if isinstance(expr, HasConsent):
        return ctx.has_consent(expr.channel)
    if isinstance(expr, Suppressed):
        return ctx.is_suppressed(expr.channel, expr.topic)
    if isinstance(expr, Did):
        return _event_count(expr.event_type, expr, ctx, stop_at_first=True) > 0
    raise TypeError(f"cannot evaluate {type(expr).__name__} as a condition")


def _value(operand: Expr, ctx: EvaluationContext) -> Any:
    if isinstance(operand, Literal):
        return operand.value
    if isinstance(operand, Field):
        return ctx.resolve(operand.path)
    if isinstance(operand, Count):
        return _event_count(operand.event_type, operand, ctx, stop_at_first=False)
    raise TypeError(f"cannot use {type(operand).__name__} as a value")


def _event_count(event_type: str, node: Did | Count, ctx: EvaluationContext, stop_at_first: bool) -> int:
    since = ctx.now() - node.within if node.within is not None else None
    count = 0
    for data in ctx.events(event_type, since):
        if node.where is None or evaluate(node.where, EventDataContext(data, ctx)):
            count += 1
            if stop_at_first:
                break
    return count


class EventDataContext:
    """Context for a `where=` condition: bare paths read the event's data; the rest defers to the parent."""

    def __init__(self, data: Mapping[str, Any], parent: EvaluationContext) -> None:
        self.data = data
        self.parent = parent

    def resolve(self, path: tuple[str, ...]) -> Any:
        """The value at a path inside the event's data, or None."""
        return walk(self.data, path)

    def has_consent(self, channel: str) -> bool:
        """Delegates to the contact's context."""
        return self.parent.has_consent(channel)

    def is_suppressed(self, channel: str | None, topic: str | None) -> bool:
        """Delegates to the contact's context."""
        return self.parent.is_suppressed(channel, topic)

    def events(self, event_type: str, since: datetime | None) -> Iterable[Mapping[str, Any]]:
        """Delegates to the contact's context."""
        return self.parent.events(event_type, since)

    def now(self) -> datetime:
        """Delegates to the contact's context."""
        return self.parent.now()


def walk(value: Any, path: tuple[str, ...]) -> Any:
    """Follow a path through nested mappings; None as soon as a step is missing or not a mapping."""
    for segment in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(segment)
    return value
