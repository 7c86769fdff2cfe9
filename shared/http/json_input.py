"""Reading untrusted JSON bodies within fixed limits (pure: no Flask, no I/O).

Python's JSON parser recurses once per nesting level and raises RecursionError (not ValueError) on
a deep document; NaN, Infinity and 1e999 parse to floats PostgreSQL refuses; integers have no size;
and `\\u0000` or a lone surrogate `\\ud800` decode to strings the database driver cannot store.
Every one of those used to surface as a 500. Here they become values the edge turns into a 400
(the document can't be read) or a 422 naming the field (the document is read but a value is refused).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_JSON_DEPTH = 32
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# C0 controls other than tab, line feed and carriage return, and UTF-16 surrogates (only reachable
# through \\u escapes; they are not characters and no UTF-8 encoder accepts them alone).
FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
# Strings are skipped whole so brackets inside them don't count toward the nesting depth.
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
# Cheap screens of the raw text: a body with none of these can hold no refused value, so the walk
# over every value (the slow part on a 1,000-event batch) is skipped.
_MAYBE_ESCAPED = "\\u"
_LONG_NUMBER = re.compile(r"\d{19}|[eE][+]?\d{3}")


class MalformedJSON(ValueError):
    """The body can't be read as a JSON document within the limits; `detail` says where."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _reject_constant(name: str) -> Any:
    raise MalformedJSON(f"{name} is not a JSON number")


def nesting_error(text: str, limit: int = MAX_JSON_DEPTH) -> str | None:
    """Where `text` nests arrays/objects deeper than `limit` levels, or None when it doesn't."""
    depth = 0
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return f"JSON nested deeper than {limit} levels at character {match.start()}"
        elif token in "]}":
            depth -= 1
    return None


def parse_json(data: bytes, limit: int = MAX_JSON_DEPTH) -> Any:
    """Decode UTF-8 and parse one JSON document; MalformedJSON says what and where when it can't."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedJSON(f"the body is not valid UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise MalformedJSON("the body is empty; send a JSON document")
    deep = nesting_error(text, limit)
    if deep:
        raise MalformedJSON(deep)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except MalformedJSON:
        raise
    except json.JSONDecodeError as exc:
        raise MalformedJSON(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4,300 digits
        raise MalformedJSON(f"invalid JSON: {exc}") from None


def might_hold_refused_values(data: bytes) -> bool:
    """False when the raw body certainly holds no value `refused_values` would name."""
    text = data.decode("utf-8", errors="replace")
    return _MAYBE_ESCAPED in text or _LONG_NUMBER.search(text) is not None


def refused_string(value: str) -> str | None:
    """Why a string is refused (a control character or a lone surrogate), or None."""
    found = FORBIDDEN_CHARS.search(value)
    if found is None:
        return None
    char = found.group()
    kind = "a lone UTF-16 surrogate" if "\ud800" <= char <= "\udfff" else "a control character"
    return f"contains {kind} (U+{ord(char):04X} at position {found.start()})"


def _join(path: str, step: str | int) -> str:
    return f"{path}.{step}" if path else str(step)


def refused_values(doc: Any, path: str = "") -> dict[str, list[str]]:
    """Every value of a parsed document that no service stores: {dotted path: [reason]}."""
    found: dict[str, list[str]] = {}
    if isinstance(doc, dict):
        for key, value in doc.items():
            reason = refused_string(key)
            if reason:
                found[_join(path, repr(key)[1:-1])] = [f"field name {reason}"]
                continue
            found.update(refused_values(value, _join(path, key)))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found.update(refused_values(value, _join(path, index)))
    elif isinstance(doc, str):
        reason = refused_string(doc)
        if reason:
            found[path or "_body"] = [reason]
    elif isinstance(doc, bool):
        pass
    elif isinstance(doc, int):
        if not INT64_MIN <= doc <= INT64_MAX:
            found[path or "_body"] = ["integer out of range (must fit in 64 bits)"]
    elif isinstance(doc, float) and not math.isfinite(doc):
        found[path or "_body"] = ["number out of range"]
    return found
