"""The one opaque paging cursor: a position in a listing as URL-safe base64 of compact JSON.

Every listing that pages by keyset (contacts, segments, timelines, import rejections, scheduler
entries and schedules, channels' call tasks) hands out `encode_cursor(position)` and reads it back
with `decode_cursor(cursor, {"key": type, ...})`. A cursor this API did not hand out is refused
the same way everywhere: 400, a `BadCursor` problem naming the `cursor` parameter. The cursor is
not signed: it only says where the next page starts, and every value is checked for its type
before it reaches a query. Plain Python (no Flask), so handlers may call it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from shared.errors import BadCursor

T = TypeVar("T")


def encode_cursor(position: Mapping[str, Any]) -> str:
    """An opaque cursor for a position in a listing (values: str, int, or aware datetimes)."""
    plain = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in position.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def aware_datetime(value: Any) -> datetime:
    """A cursor value read back as an aware datetime (ValueError otherwise)."""
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    if parsed is None or parsed.tzinfo is None:
        raise ValueError("not an aware ISO 8601 time")
    return parsed


def _exact(kind: type) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        # bool is an int in Python; a cursor never holds one, so it is refused too.
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"not a {kind.__name__}")
        return value

    return check


def decode_cursor(cursor: str | None, keys: Mapping[str, type | Callable[[Any], Any]],
                  field: str = "cursor") -> dict[str, Any] | None:
    """The position a cursor stands for (None for no cursor); `BadCursor` (400) if this API did not make it.

    `keys` maps every key of the position to `str`, `int` (exact types) or a converter such as
    `aware_datetime` that raises ValueError on a value it refuses.
    """
    if cursor is None or cursor == "":
        return None
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadCursor(field) from None
    if not isinstance(position, dict) or set(position) != set(keys):
        raise BadCursor(field)
    try:
        return {k: (_exact(kind) if kind in (str, int) else kind)(position[k]) for k, kind in keys.items()}
    except (ValueError, TypeError):
        raise BadCursor(field) from None


def next_page(rows: Sequence[T], limit: int, position: Callable[[T], Mapping[str, Any]]) -> tuple[list[T], str | None]:
    """Split rows fetched with `LIMIT limit + 1` into the page and the cursor of the next one (None: last page).

    `position(last_row)` is what the next page starts after.
    """
    page = list(rows[:limit])
    return page, encode_cursor(position(page[-1])) if len(rows) > limit else None
