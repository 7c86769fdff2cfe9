"""Compile a filter AST to a SQLAlchemy Core boolean (PostgreSQL), mirroring `values.py` exactly.

Every field comparison is wrapped in COALESCE(..., false) so SQL's three-valued logic cannot make
`not (x > 5)` differ from Python for a contact without x. Numeric comparisons cast only values that are
JSON numbers or match NUMERIC_SQL_PATTERN, so an attribute 'abc' simply does not match. String ordering
uses COLLATE "C" (code-point order, as Python). Every literal is a bind parameter.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSON, JSONB
from sqlalchemy.sql.elements import ColumnElement

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
    Not,
    Or,
    Suppressed,
)
from shared.filters.values import NUMERIC_SQL_PATTERN, as_number, is_number, numeric_string


class FilterCompileError(ValueError):
    """A well-formed filter that the given SQL resolver cannot express (e.g. `event.*` in a segment)."""


WhereBuilder = Callable[["SqlResolver"], ColumnElement[bool]]


@dataclass(frozen=True)
class SqlField:
    """Where a filter path lives: a typed column/expression (json_path None) or a path in a JSONB value."""

    expr: ColumnElement[Any]
    json_path: tuple[str, ...] | None = None


class SqlResolver(Protocol):
    """Maps filter paths and functions onto a concrete schema."""

    def column(self, path: tuple[str, ...]) -> SqlField:
        """The SQL location of a field path (raise FilterCompileError when unsupported)."""
        ...

    def has_consent(self, channel: str) -> ColumnElement[bool]:
        """True when the contact granted consent on the channel."""
        ...

    def is_suppressed(self, channel: str | None, topic: str | None) -> ColumnElement[bool]:
        """True when an active suppression is global or matches the channel/topic."""
        ...

    def event_count(
        self, event_type: str, since_seconds: float | None, where: WhereBuilder | None
    ) -> ColumnElement[int]:
        """Scalar subquery counting the contact's matching events."""
        ...

    def event_exists(
        self, event_type: str, since_seconds: float | None, where: WhereBuilder | None
    ) -> ColumnElement[bool]:
        """EXISTS over the contact's matching events."""
        ...

    def event_scope(self) -> SqlResolver:
        """A resolver whose column() addresses the event's data, used to compile `where=`."""
        ...


def compile_sql(expr: Expr, resolver: SqlResolver) -> ColumnElement[bool]:
    """A SQLAlchemy boolean expression that is true exactly when `evaluate` would be true."""
    if isinstance(expr, And):
        return sa.and_(*(compile_sql(item, resolver) for item in expr.items))
    if isinstance(expr, Or):
        return sa.or_(*(compile_sql(item, resolver) for item in expr.items))
    if isinstance(expr, Not):
        return sa.not_(compile_sql(expr.item, resolver))
    if isinstance(expr, HasConsent):
        return resolver.has_consent(expr.channel)
    if isinstance(expr, Suppressed):
        return resolver.is_suppressed(expr.channel, expr.topic)
    if isinstance(expr, Did):
        return resolver.event_exists(expr.event_type, _seconds(expr), _where_builder(expr))
    if isinstance(expr, Compare) and isinstance(expr.left, Count):
        count = expr.left
        counted = resolver.event_count(count.event_type, _seconds(count), _where_builder(count))
        number = as_number(expr.right.value) if is_number(expr.right.value) else None
        if number is None:
            raise FilterCompileError("count() can only be compared with a number")
        return _ORDER_OPS[expr.op](counted, _number_param(number))
    if isinstance(expr, Compare | InList | IsNull):
        return sa.func.coalesce(_field_condition(expr, resolver), sa.false())
    raise FilterCompileError(f"cannot compile {type(expr).__name__} as a condition")


_ORDER_OPS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _seconds(node: Did | Count) -> float | None:
    return None if node.within is None else node.within.total_seconds()


def _where_builder(node: Did | Count) -> WhereBuilder | None:
    where = node.where
    if where is None:
        return None
    return lambda scope: compile_sql(where, scope)


def _field_condition(expr: Compare | InList | IsNull, resolver: SqlResolver) -> ColumnElement[bool]:
    item = expr.left if isinstance(expr, Compare) else expr.item
    if not isinstance(item, Field):
        raise FilterCompileError(f"{expr.to_text()!r} needs a field on its left")
    view = _View.of(resolver.column(item.path))
    if isinstance(expr, IsNull):
        return sa.not_(view.is_null) if expr.negated else view.is_null
    if isinstance(expr, InList):
        values = [literal.value for literal in expr.values]
        return view.not_in(values) if expr.negated else view.equals_any(values)
    value = expr.right.value  # type: ignore[union-attr]  # the parser puts the literal on the right
    if value is None:
        return {"==": view.is_null, "!=": sa.not_(view.is_null)}.get(expr.op, sa.false())
    if expr.op == "==":
        return view.equals_any([value])
    if expr.op == "!=":
        return view.not_in([value])
    if expr.op == "contains":
        return view.contains(value)
    return view.ordered(expr.op, value)


@dataclass(frozen=True)
class _View:
    """A field seen through the language's value classes: string, number, boolean, array."""

    is_null: ColumnElement[bool]
    is_string: ColumnElement[bool]
    text: ColumnElement[str]
    is_number: ColumnElement[bool]
    number: ColumnElement[Decimal]  # NULL unless the value is a number or a numeric string
    is_bool: ColumnElement[bool]
    truth: ColumnElement[bool]
    is_array: ColumnElement[bool]
    jsonb: ColumnElement[Any] | None

    @classmethod
    def of(cls, field: SqlField) -> _View:
        expr, path = field.expr, field.json_path
        if path is None and isinstance(expr.type, JSON | JSONB | sa.JSON):
            path = ()
        if path is not None:
            return cls._of_jsonb(expr, path)
        none = sa.false()
        is_null = expr.is_(None)
        present = expr.is_not(None)
        if isinstance(expr.type, sa.Boolean):
            return cls(is_null, none, sa.null(), none, sa.null(), present, expr, none, None)
        if isinstance(expr.type, sa.Integer | sa.Numeric):
            return cls(is_null, none, sa.null(), present, expr, none, sa.null(), none, None)
        if isinstance(expr.type, sa.String):
            number = sa.case((expr.regexp_match(NUMERIC_SQL_PATTERN), sa.cast(expr, sa.Numeric)))
            return cls(is_null, present, expr, none, number, none, sa.null(), none, None)
        # Dates, UUIDs and the like have no comparable literal in the language: only `is null` applies.
        return cls(is_null, none, sa.null(), none, sa.null(), none, sa.null(), none, None)

    @classmethod
    def _of_jsonb(cls, document: ColumnElement[Any], path: tuple[str, ...]) -> _View:
        if path:
            element = document[path[0]] if len(path) == 1 else document[path]
            text = element.astext
        else:
            element = document
            text = document.op("#>>", return_type=sa.Text)(sa.literal([], ARRAY(sa.Text)))
        kind = sa.func.jsonb_typeof(element)
        is_string, is_number = kind == "string", kind == "number"
        numeric = sa.or_(is_number, sa.and_(is_string, text.regexp_match(NUMERIC_SQL_PATTERN)))
        number = sa.case((numeric, sa.cast(text, sa.Numeric)))
        return cls(
            text.is_(None),
            is_string,
            text,
            is_number,
            number,
            kind == "boolean",
            text == "true",
            kind == "array",
            element,
        )

    def equals_any(self, values: list[Any]) -> ColumnElement[bool]:
        """Some value equals the field (an empty list matches nothing)."""
        return sa.or_(sa.false(), *(match for _, match in self._classes(values)))

    def not_in(self, values: list[Any]) -> ColumnElement[bool]:
        """The field is present, comparable with every value, and equal to none."""
        parts = [sa.and_(comparable, sa.not_(match)) for comparable, match in self._classes(values)]
        return sa.and_(sa.not_(self.is_null), *parts)

    def _classes(self, values: list[Any]) -> list[tuple[ColumnElement[bool], ColumnElement[bool]]]:
        """(comparable, equals-one-of) per class of literal, mirroring values.comparable/equals."""
        bools = {value for value in values if isinstance(value, bool)}
        numbers = [as_number(value) for value in values if is_number(value)]
        numeric_strings = [
            value for value in values if isinstance(value, str) and numeric_string(value) is not None
        ]
        plain_strings = [
            value for value in values if isinstance(value, str) and numeric_string(value) is None
        ]
        classes = []
        if plain_strings:
            classes.append((self.is_string, sa.and_(self.is_string, self._text_in(plain_strings))))
        if numeric_strings:
            as_numbers = [numeric_string(value) for value in numeric_strings]
            match = sa.or_(
                sa.and_(self.is_string, self._text_in(numeric_strings)),
                sa.and_(self.is_number, self.number.in_(_number_params(as_numbers))),
            )
            classes.append((sa.or_(self.is_string, self.is_number), match))
        if numbers:
            classes.append((self.number.is_not(None), self.number.in_(_number_params(numbers))))
        if bools:
            truth = sa.true() if len(bools) == 2 else (self.truth if True in bools else sa.not_(self.truth))
            classes.append((self.is_bool, sa.and_(self.is_bool, truth)))
        return classes

    def _text_in(self, strings: list[str]) -> ColumnElement[bool]:
        return self.text.in_(sa.bindparam(None, strings, type_=sa.Text(), expanding=True))

    def ordered(self, op: str, value: Any) -> ColumnElement[bool]:
        """`field op value` for < <= > >= (booleans never order)."""
        compare = _ORDER_OPS[op]
        if is_number(value):
            return compare(self.number, _number_param(as_number(value)))
        if not isinstance(value, str):
            return sa.false()
        as_text = sa.and_(self.is_string, compare(self.text.collate("C"), sa.literal(value, sa.Text())))
        number = numeric_string(value)
        if number is None:
            return as_text
        return sa.or_(as_text, sa.and_(self.is_number, compare(self.number, _number_param(number))))

    def contains(self, value: Any) -> ColumnElement[bool]:
        """Substring for string fields, same-type membership for JSON arrays."""
        parts = []
        if isinstance(value, str):
            parts.append(sa.and_(self.is_string, sa.func.strpos(self.text, sa.literal(value, sa.Text())) > 0))
        if self.jsonb is not None:
            item = json.dumps(value) if isinstance(value, str | bool) else format(as_number(value), "f")
            wanted = sa.cast(sa.literal(f"[{item}]", sa.Text()), JSONB)
            parts.append(sa.and_(self.is_array, self.jsonb.op("@>", return_type=sa.Boolean)(wanted)))
        return sa.or_(sa.false(), *parts)


def _number_param(number: Decimal | None) -> ColumnElement[Decimal]:
    return sa.literal(number, sa.Numeric())


def _number_params(numbers: list[Decimal | None]) -> ColumnElement[Any]:
    # Typed Numeric explicitly: the psycopg dialect casts binds to the column's type (::INTEGER would round).
    return sa.bindparam(None, numbers, type_=sa.Numeric(), expanding=True)
