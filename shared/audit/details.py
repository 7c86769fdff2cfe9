"""What an audit record keeps of a change: a small, bounded before/after, and its redaction on erasure.

Plain Python (no Flask, no SQLAlchemy), so the rules are unit tested on their own
(tests/unit/shared/test_audit_details.py).

The bound: the details of one record serialise to at most `DETAILS_BOUND_BYTES` (4 KiB) of compact
JSON. On the way there, strings are cut to `MAX_STRING` characters, lists to `MAX_ITEMS` items and
nesting to `MAX_DEPTH` levels; an update keeps only the fields that changed. If the result is still
too large, only the names of the changed fields are kept, with `"truncated": true`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

DETAILS_BOUND_BYTES = 4096
MAX_STRING = 200
MAX_ITEMS = 20
MAX_DEPTH = 5
ERASED = "[erased]"
ELLIPSIS = "…"


def jsonable(value: Any) -> Any:
    """`value` as JSON-ready data: datetimes as ISO text, decimals and ids as text, sets as sorted lists."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((jsonable(v) for v in value), key=str)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def shorten(value: Any, depth: int = 0) -> Any:
    """`value` (JSON-ready) with long strings and lists cut and deep nesting replaced by '…'."""
    if isinstance(value, str):
        return value if len(value) <= MAX_STRING else value[:MAX_STRING] + ELLIPSIS
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        return ELLIPSIS
    if isinstance(value, dict):
        items = list(value.items())
        kept = {k: shorten(v, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            kept[ELLIPSIS] = f"{len(items) - MAX_ITEMS} more"
        return kept
    if isinstance(value, list):
        kept_list = [shorten(v, depth + 1) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            kept_list.append(f"{ELLIPSIS} {len(value) - MAX_ITEMS} more")
        return kept_list
    return value


def size_of(details: Any) -> int:
    """Bytes of `details` as compact UTF-8 JSON (what the bound counts)."""
    return len(json.dumps(details, separators=(",", ":"), ensure_ascii=False).encode())


def change_details(before: Any = None, after: Any = None, bound: int = DETAILS_BOUND_BYTES) -> dict[str, Any] | None:
    """The details of a change: `{"before": ..., "after": ...}`, within `bound` bytes; None when both are None.

    When both sides are mappings only the fields whose values differ are kept (an update of one
    field out of twenty records that field). A create has only `after`, a delete only `before`.
    """
    before, after = jsonable(before), jsonable(after)
    if before is None and after is None:
        return None
    if isinstance(before, dict) and isinstance(after, dict):
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        before = {k: before[k] for k in changed if k in before}
        after = {k: after[k] for k in changed if k in after}
    details = {side: shorten(value) for side, value in (("before", before), ("after", after)) if value is not None}
    if size_of(details) <= bound:
        return details
    fields = sorted({k for value in details.values() if isinstance(value, dict) for k in value})
    summary: dict[str, Any] = {"truncated": True, "changed": fields}
    while fields and size_of(summary) > bound:  # even the field names are too many: keep what fits
        fields = fields[: len(fields) // 2]
        summary["changed"] = fields
    return summary


def redact(details: Any, personal: Collection[str]) -> Any:
    """`details` with the value of every key named in `personal` (at any depth) replaced by '[erased]'.

    The shape stays (which fields changed, and every value that is not personal), so the record
    still says what happened; `truncated` summaries hold only field names and stay as they are."""
    if isinstance(details, dict):
        return {k: (ERASED if k in personal and v is not None else redact(v, personal)) for k, v in details.items()}
    if isinstance(details, list):
        return [redact(v, personal) for v in details]
    return details
