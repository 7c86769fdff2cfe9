"""How filter comparisons treat plain Python values; the SQL compiler mirrors these rules exactly.

- Anything compared with a missing value (None) is false, except `== null`, `!= null`, `is [not] null`.
- A number literal matches numbers and numeric strings ('10000' > 500); a string literal matches strings,
  and numbers when the literal itself is numeric. Booleans only match booleans.
- Any other type mismatch is simply false (including for `!=`), never an exception.
- `x in [a, b]` is `x == a or x == b`; `x not in [a, b]` is `x is not null and x != a and x != b`.
- `contains` is substring on strings, membership (same type, numbers by value) on lists.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

# The consent status that counts as yes, for `has_consent()` in Python and in SQL alike.
GRANTED = "granted"

# Kept in step with NUMERIC_SQL_PATTERN: a number-looking string in the data, with no exponent form.
NUMERIC_PATTERN = re.compile(r"-?[0-9]+(\.[0-9]+)?")
NUMERIC_SQL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"

ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def is_number(value: object) -> bool:
    """True for ints, finite floats and Decimals, but not for booleans."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return False
    return not isinstance(value, float | Decimal) or math.isfinite(value)


def numeric_string(value: object) -> Decimal | None:
    """The number a string spells ('-12.5'), or None."""
    if isinstance(value, str) and NUMERIC_PATTERN.fullmatch(value):
        return Decimal(value)
    return None


def as_number(value: object) -> Decimal | None:
    """The value as a Decimal when it is a number or a numeric string, else None."""
    if is_number(value):
        return Decimal(str(value)) if isinstance(value, float) else Decimal(value)  # type: ignore[arg-type]
    return numeric_string(value)


def comparable(value: object, literal: object) -> bool:
    """Whether a data value and a (non-null) literal have types the filter language compares."""
    if value is None or literal is None:
        return False
    if isinstance(literal, bool):
        return isinstance(value, bool)
    if is_number(literal):
        return as_number(value) is not None
    if isinstance(literal, str):
        return isinstance(value, str) or (is_number(value) and numeric_string(literal) is not None)
    return False


def equals(value: object, literal: object) -> bool:
    """`value == literal` under the rules above (null only equals null)."""
    if literal is None or value is None:
        return literal is None and value is None
    if not comparable(value, literal):
        return False
    if isinstance(literal, bool) or (isinstance(literal, str) and isinstance(value, str)):
        return value == literal
    return as_number(value) == as_number(literal)


def compare(op: str, value: object, literal: object) -> bool:
    """Apply a comparison operator (== != < <= > >= contains) to a data value and a literal."""
    if op == "==":
        return equals(value, literal)
    if op == "!=":
        if literal is None:
            return value is not None
        return comparable(value, literal) and not equals(value, literal)
    if op == "contains":
        return contains(value, literal)
    if not comparable(value, literal) or isinstance(literal, bool):
        return False
    if isinstance(literal, str) and isinstance(value, str):
        return ORDERING[op](value, literal)
    return ORDERING[op](as_number(value), as_number(literal))


def contains(value: object, literal: object) -> bool:
    """Substring test for strings, same-type membership for lists."""
    if literal is None:
        return False
    if isinstance(value, str):
        return isinstance(literal, str) and literal in value
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return any(_same_value(item, literal) for item in value)
    return False


def _same_value(item: object, literal: object) -> bool:
    if isinstance(literal, bool) or isinstance(item, bool):
        return isinstance(literal, bool) and isinstance(item, bool) and item == literal
    if is_number(literal):
        return is_number(item) and as_number(item) == as_number(literal)
    return isinstance(item, str) and isinstance(literal, str) and item == literal
