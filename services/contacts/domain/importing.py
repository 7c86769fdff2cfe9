"""Bulk import rules: turning a CSV record or a JSON line into contact values, and deduplicating a chunk.

A row matches an existing contact by external_id, then email, then phone. An email or phone match
is only taken when it does not contradict the row's external_id (a contact that already has a
different external_id is a different person who happens to share an address). Rows that match a
contact created earlier in the same file update it, so a file with duplicates yields one contact.

One person, one profile: a live contact's email and phone are unique. A row that would give a
contact an email or phone another contact holds (a different external_id with the same address,
or an external_id match whose new email belongs to someone else) is rejected with the holder's id
instead of creating a second profile. A merged contact (a tombstone) matches like any other, but
its row lands on the contact it was merged into.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.contacts.domain.contact import (
    ATTRIBUTE_KEY,
    CONTACT_FIELDS,
    RESERVED_ATTRIBUTE_KEYS,
    normalize_contact,
)

KEYS = ("external_id", "email", "phone")
MAX_ROW_BYTES = 65_536


class RowRejected(ValueError):
    """A row that cannot become a contact; the message is the reason shown in the report."""


@dataclass(frozen=True)
class ImportRow:
    """One accepted row: its number in the file and its normalised values (attributes included)."""

    number: int
    values: dict[str, Any]


def check_csv_header(header: Sequence[str]) -> list[str]:
    """Normalised column names; raise ValueError when a column can be neither a field nor an attribute."""
    names = [name.strip().lower() for name in header]
    if len(set(names)) != len(names):
        raise ValueError("duplicate column names in the header")
    for name in names:
        if name in CONTACT_FIELDS:
            continue
        if not ATTRIBUTE_KEY.match(name) or name in RESERVED_ATTRIBUTE_KEYS:
            raise ValueError(f"column {name[:70]!r} is neither a contact field nor a valid attribute name")
    if not set(names) & set(KEYS):
        raise ValueError(f"the header needs at least one of the columns {', '.join(KEYS)}")
    return names


def row_from_csv(number: int, header: Sequence[str], record: Sequence[str], phone_region: str | None) -> ImportRow:
    """An ImportRow from one CSV record; other columns than the contact fields become string attributes."""
    if len(record) > len(header):
        raise RowRejected(f"{len(record)} fields but the header has {len(header)}")
    raw: dict[str, Any] = {}
    attributes: dict[str, str] = {}
    for name, cell in zip(header, record, strict=False):
        cell = cell.strip()
        if not cell:
            continue  # an empty cell leaves the stored value alone
        if name in CONTACT_FIELDS:
            raw[name] = cell
        else:
            attributes[name] = cell
    if attributes:
        raw["attributes"] = attributes
    return _row(number, raw, phone_region)


def row_from_json_line(number: int, line: str, phone_region: str | None) -> ImportRow:
    """An ImportRow from one JSON line: an object of contact fields and an `attributes` object."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RowRejected(f"not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(raw, dict):
        raise RowRejected("each line must be a JSON object")
    unknown = sorted(set(raw) - set(CONTACT_FIELDS) - {"attributes"})
    if unknown:
        raise RowRejected(f"unknown field(s): {', '.join(k[:40] for k in unknown[:5])}")
    raw = {k: v for k, v in raw.items() if v is not None and v != ""}
    return _row(number, raw, phone_region)


def _row(number: int, raw: Mapping[str, Any], phone_region: str | None) -> ImportRow:
    result = normalize_contact(raw, phone_region)
    if result.errors:
        raise RowRejected("; ".join(f"{name}: {message}" for name, message in sorted(result.errors.items())))
    values = {k: v for k, v in result.values.items() if v is not None}
    if not any(values.get(key) for key in KEYS):
        raise RowRejected("a row needs at least one of external_id, email, phone")
    return ImportRow(number, values)


@dataclass
class KnownContact:
    """The identifying fields of a contact as the chunk sees them."""

    id: str
    external_id: str | None
    email: str | None
    phone: str | None
    merged_into: str | None = None


@dataclass
class ChunkPlan:
    """What one chunk does: per contact id the merged values to upsert, and created/updated counts."""

    upserts: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_ids: set[str] = field(default_factory=set)
    created: int = 0
    updated: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (row number, reason)


class ContactIndex:
    """Lookup of contacts by external_id, email and phone, kept current as rows are applied."""

    def __init__(self, contacts: Iterable[KnownContact] = ()) -> None:
        self.by: dict[str, dict[str, KnownContact]] = {key: {} for key in KEYS}
        contacts = list(contacts)
        live = {c.id: c for c in contacts if c.merged_into is None}
        for contact in live.values():
            self.add(contact)
        # A tombstone's keys lead to its survivor (a live contact's own keys win over them).
        for tomb in contacts:
            if tomb.merged_into is not None:
                survivor = live.setdefault(tomb.merged_into, KnownContact(tomb.merged_into, None, None, None))
                for key in KEYS:
                    value = getattr(tomb, key)
                    if value:
                        self.by[key].setdefault(value, survivor)

    def add(self, contact: KnownContact) -> None:
        """Index a contact under each of its keys (the first contact seen for a value wins)."""
        for key in KEYS:
            value = getattr(contact, key)
            if value:
                self.by[key].setdefault(value, contact)

    def match(self, values: Mapping[str, Any]) -> KnownContact | None:
        """The contact a row's values belong to, by external_id, then email, then phone."""
        external_id = values.get("external_id")
        if external_id and external_id in self.by["external_id"]:
            return self.by["external_id"][external_id]
        for key in ("email", "phone"):
            candidate = self.by[key].get(values.get(key) or "")
            if candidate is None:
                continue
            if external_id and candidate.external_id and candidate.external_id != external_id:
                continue  # same address, different person in the source system
            return candidate
        return None


def plan_chunk(rows: Sequence[ImportRow], index: ContactIndex, new_id: Callable[[], str]) -> ChunkPlan:
    """Assign every row to an existing or new contact and merge rows that land on the same contact."""
    plan = ChunkPlan()
    for row in rows:
        contact = index.match(row.values)
        holder = _other_holder(index, row.values, contact)
        if holder is not None:
            key, other = holder
            plan.rejected.append((row.number, f"{key}: already used by contact {other.id}"
                                  + (f" (external_id {other.external_id})" if other.external_id else "")))
            continue
        if contact is None:
            contact = KnownContact(new_id(), None, None, None)
            plan.created_ids.add(contact.id)
            plan.created += 1
        else:
            plan.updated += 1
        merged = plan.upserts.setdefault(contact.id, {})
        for name, value in _own_values(index, row.values, contact).items():
            if name == "attributes":
                merged["attributes"] = {**merged.get("attributes", {}), **value}
            else:
                merged[name] = value
        for key in KEYS:
            if row.values.get(key):
                setattr(contact, key, row.values[key])
        index.add(contact)
    return plan


def _own_values(index: ContactIndex, values: Mapping[str, Any], contact: KnownContact) -> Mapping[str, Any]:
    """The row's values without the keys that reached `contact` through a tombstone (they stay the tombstone's)."""
    routed = [key for key in KEYS if values.get(key) and index.by[key].get(values[key]) is contact
              and getattr(contact, key) != values[key]]
    return {k: v for k, v in values.items() if k not in routed} if routed else values


def _other_holder(index: ContactIndex, values: Mapping[str, Any], contact: KnownContact | None,
                  ) -> tuple[str, KnownContact] | None:
    """(key, contact) when the row's email or phone belongs to a contact other than the one it lands on."""
    for key in ("email", "phone"):
        holder = index.by[key].get(values.get(key) or "")
        if holder is not None and holder is not contact and getattr(holder, key) == values[key]:
            return key, holder
    return None
