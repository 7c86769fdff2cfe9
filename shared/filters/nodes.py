"""The filter AST: frozen dataclasses whose `to_text()` (and `str()`) parse back to an equal tree."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from shared.filters.durations import format_duration

Scalar = str | int | Decimal | float | bool | None

COMPARISON_OPS = ("==", "!=", "<", "<=", ">", ">=")
# `5 < amount` is stored as `amount > 5`: the field always sits on the left.
FLIPPED_OPS = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


class Expr:
    """Base of every node; a node renders as filter text that parses back to itself."""

    def to_text(self) -> str:
        """Filter text for this node."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.to_text()


@dataclass(frozen=True)
class Literal(Expr):
    """A constant: string, integer, Decimal, boolean or null."""

    value: Scalar

    def to_text(self) -> str:
        """Filter text for this node."""
        value = self.value
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return _quote(value)
        if isinstance(value, float):
            value = Decimal(repr(value))
        return format(value, "f") if isinstance(value, Decimal) else str(value)


@dataclass(frozen=True)
class Field(Expr):
    """A dotted path such as contact.attributes.tier; its meaning is decided by the evaluation context."""

    path: tuple[str, ...]

    def to_text(self) -> str:
        """Filter text for this node."""
        return ".".join(self.path)


@dataclass(frozen=True)
class Count(Expr):
    """How many events of a type the contact has (optionally recent, optionally matching `where`)."""

    event_type: str
    within: timedelta | None = None
    where: Expr | None = None

    def to_text(self) -> str:
        """Filter text for this node."""
        return f"count({_event_args(self.event_type, self.within, self.where)})"


Operand = Field | Literal | Count


@dataclass(frozen=True)
class Compare(Expr):
    """`left op right` with op one of == != < <= > >= contains."""

    op: str
    left: Operand
    right: Operand

    def to_text(self) -> str:
        """Filter text for this node."""
        return f"{self.left.to_text()} {self.op} {self.right.to_text()}"


@dataclass(frozen=True)
class InList(Expr):
    """`item in [..]`, or `item not in [..]` when negated."""

    item: Operand
    values: tuple[Literal, ...]
    negated: bool = False

    def to_text(self) -> str:
        """Filter text for this node."""
        values = ", ".join(value.to_text() for value in self.values)
        return f"{self.item.to_text()} {'not in' if self.negated else 'in'} [{values}]"


@dataclass(frozen=True)
class IsNull(Expr):
    """`item is null`, or `item is not null` when negated."""

    item: Operand
    negated: bool = False

    def to_text(self) -> str:
        """Filter text for this node."""
        return f"{self.item.to_text()} is {'not ' if self.negated else ''}null"


@dataclass(frozen=True)
class And(Expr):
    """All items hold."""

    items: tuple[Expr, ...]

    def to_text(self) -> str:
        """Filter text for this node."""
        return " and ".join(_wrap(item, (And, Or)) for item in self.items)


@dataclass(frozen=True)
class Or(Expr):
    """At least one item holds."""

    items: tuple[Expr, ...]

    def to_text(self) -> str:
        """Filter text for this node."""
        return " or ".join(_wrap(item, (Or,)) for item in self.items)


@dataclass(frozen=True)
class Not(Expr):
    """The item does not hold."""

    item: Expr

    def to_text(self) -> str:
        """Filter text for this node."""
        return f"not {_wrap(self.item, (And, Or))}"


@dataclass(frozen=True)
class Did(Expr):
    """The contact has at least one event of a type (optionally recent, optionally matching `where`)."""

    event_type: str
    within: timedelta | None = None
    where: Expr | None = None

    def to_text(self) -> str:
        """Filter text for this node."""
        return f"did({_event_args(self.event_type, self.within, self.where)})"


@dataclass(frozen=True)
class HasConsent(Expr):
    """The contact has granted consent on a channel."""

    channel: str

    def to_text(self) -> str:
        """Filter text for this node."""
        return f"has_consent({_quote(self.channel)})"


@dataclass(frozen=True)
class Suppressed(Expr):
    """An active suppression applies: global ones always, channel/topic ones when they match."""

    channel: str | None = None
    topic: str | None = None

    def to_text(self) -> str:
        """Filter text for this node."""
        args = [] if self.channel is None else [_quote(self.channel)]
        if self.topic is not None:
            args.append(f"topic={_quote(self.topic)}")
        return f"suppressed({', '.join(args)})"


def fields(expr: Expr) -> set[tuple[str, ...]]:
    """The field paths an expression reads, excluding event-data paths inside did()/count() `where`."""
    return {node.path for node in _walk(expr) if isinstance(node, Field)}


def _walk(expr: Expr) -> Iterator[Expr]:
    yield expr
    children: tuple[Expr, ...] = ()
    if isinstance(expr, Compare):
        children = (expr.left, expr.right)
    elif isinstance(expr, InList | IsNull):
        children = (expr.item,)
    elif isinstance(expr, And | Or):
        children = expr.items
    elif isinstance(expr, Not):
        children = (expr.item,)
    for child in children:
        yield from _walk(child)


def _event_args(event_type: str, within: timedelta | None, where: Expr | None) -> str:
    args = [_quote(event_type)]
    if within is not None:
        args.append(f"within={_quote(format_duration(within))}")
    if where is not None:
        args.append(f"where={where.to_text()}")
    return ", ".join(args)


def _wrap(item: Expr, needs_parens: tuple[type[Expr], ...]) -> str:
    text = item.to_text()
    return f"({text})" if isinstance(item, needs_parens) else text


def _quote(value: str) -> str:
    escaped = (
        value.replace("\\", "\\\\")
        .replace("'", "\\'")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f"'{escaped}'"
