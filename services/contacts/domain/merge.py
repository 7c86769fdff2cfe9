"""The rules of folding one contact (the duplicate) into another (the survivor): plain Python.

- **Fields**: the survivor keeps every field it has; a field it lacks (first_name, last_name,
  locale, time_zone, email, phone) is taken from the duplicate. `external_id` is never moved: it
  is unique over every contact, so the duplicate's tombstone keeps it and routes to the survivor.
- **Attributes**: the union; on a key both hold, the survivor's value wins.
- **Consent** per channel: the most restrictive recorded status wins (denied > unknown > granted);
  a channel only one profile has a record for takes that record (no record is no statement).
- **Suppressions**: the union; every row moves to the survivor, and the active ones the survivor
  did not already have (same scope and value) are announced for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Most restrictive first: a status here beats every status after it.
CONSENT_RESTRICTIVENESS = ("denied", "unknown", "granted")
FILLED_FIELDS = ("email", "phone", "first_name", "last_name", "locale", "time_zone")


class MergeRefused(ValueError):
    """A merge that must not happen; `field` is the request field at fault, `status` the answer's kind."""

    def __init__(self, message: str, field: str, conflict: bool = True) -> None:
        super().__init__(message)
        self.field = field
        self.conflict = conflict


@dataclass(frozen=True)
class Profile:
    """What the merge rules need of a contact row."""

    id: str
    merged_into: str | None
    erased: bool


def check_merge(survivor: Profile, duplicate: Profile) -> bool:
    """Whether the merge is still to be done (False: already done, a no-op); MergeRefused if it must not be."""
    if survivor.id == duplicate.id:
        raise MergeRefused("a contact cannot be merged into itself", "duplicate_id", conflict=False)
    if duplicate.merged_into == survivor.id:
        return False
    if survivor.erased:
        raise MergeRefused(f"contact {survivor.id} was erased", "id")
    if survivor.merged_into is not None:
        raise MergeRefused(f"contact {survivor.id} was merged into {survivor.merged_into}: merge into that one",
                           "id")
    if duplicate.erased:
        raise MergeRefused(f"contact {duplicate.id} was erased", "duplicate_id")
    if duplicate.merged_into is not None:
        raise MergeRefused(f"contact {duplicate.id} was already merged into {duplicate.merged_into}",
                           "duplicate_id")
    return True


def fold_fields(survivor: Mapping[str, Any], duplicate: Mapping[str, Any]) -> dict[str, Any]:
    """The survivor's new field values: its attributes folded, and the fields it lacks from the duplicate."""
    values = {name: duplicate[name] for name in FILLED_FIELDS if not survivor.get(name) and duplicate.get(name)}
    values["attributes"] = {**(duplicate.get("attributes") or {}), **(survivor.get("attributes") or {})}
    return values


@dataclass(frozen=True)
class ConsentRecord:
    """A profile's current consent on one channel."""

    channel: str
    status: str
    source: str | None


def fold_consent(survivor: Iterable[ConsentRecord], duplicate: Iterable[ConsentRecord]) -> list[ConsentRecord]:
    """The consent records the survivor must take on (the most restrictive per channel), by channel."""
    mine = {r.channel: r for r in survivor}
    changes = []
    for record in sorted(duplicate, key=lambda r: r.channel):
        current = mine.get(record.channel)
        if current is None or _rank(record.status) < _rank(current.status):
            changes.append(record)
    return changes


def _rank(status: str) -> int:
    return CONSENT_RESTRICTIVENESS.index(status) if status in CONSENT_RESTRICTIVENESS else 0


def is_active(row: Any, now: datetime) -> bool:
    """Whether a suppression is in force at `now` (a lifted one has expired)."""
    return row.expires_at is None or row.expires_at > now


def suppressions_to_announce(survivor: Iterable[Any], duplicate: Iterable[Any], now: datetime) -> list[Any]:
    """The duplicate's active suppressions that are new to the survivor (no active one of the same scope and value)."""
    held = {(r.scope, r.value) for r in survivor if is_active(r, now)}
    new = []
    for row in duplicate:
        if is_active(row, now) and (row.scope, row.value) not in held:
            held.add((row.scope, row.value))
            new.append(row)
    return new
