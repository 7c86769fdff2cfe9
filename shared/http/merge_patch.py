"""JSON merge patch (RFC 7396): the body of a `PATCH` that changes part of a JSON document."""

from __future__ import annotations

from typing import Any

MERGE_PATCH_TYPE = "application/merge-patch+json"


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply `patch` to `target` as RFC 7396 says: objects merge member by member, `null` removes a
    member, anything else (arrays included) replaces. Neither argument is modified."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result
