"""Segments: named filters over contacts, counted and streamed in SQL."""

from __future__ import annotations

from typing import Any

from services.contacts.domain.ids import new_id
from services.contacts.handlers.common import filter_errors
from services.contacts.repository.segments import MEMBER_COLUMNS, NameTaken
from services.contacts.unit_of_work import ContactsUnitOfWork
from shared.errors import Conflict, NotFound
from shared.http.cursor import decode_cursor, next_page

SEGMENT_COLUMNS = ("id", "name", "description", "definition", "created_at", "updated_at")


def _view(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in SEGMENT_COLUMNS}


def _load(uow: ContactsUnitOfWork, segment_id: str) -> Any:
    row = uow.segments.segment(segment_id) if len(segment_id) <= 36 else None
    if row is None:
        raise NotFound(f"no segment {segment_id[:64]!r}")
    return row


def _check(uow: ContactsUnitOfWork, definition: str) -> None:
    with filter_errors("definition"):
        uow.segments.check(definition)


def _name_taken() -> Conflict:
    return Conflict("a segment with this name exists", {"name": ["already used by another segment"]})


def create_segment(uow: ContactsUnitOfWork, data: dict[str, Any]) -> dict[str, Any]:
    """Create a segment after checking its definition compiles."""
    _check(uow, data["definition"])
    stamp = uow.clock.now()
    try:
        row = uow.segments.create({"id": new_id(), "name": data["name"], "description": data.get("description"),
                                   "definition": data["definition"], "created_at": stamp, "updated_at": stamp})
    except NameTaken:
        raise _name_taken() from None
    return _view(row)


def update_segment(uow: ContactsUnitOfWork, segment_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Change a segment's name, description or definition."""
    _load(uow, segment_id)
    if "definition" in data:
        _check(uow, data["definition"])
    try:
        row = uow.segments.update(segment_id, {"updated_at": uow.clock.now(), **data})
    except NameTaken:
        raise _name_taken() from None
    return _view(row)


def delete_segment(uow: ContactsUnitOfWork, segment_id: str) -> None:
    """Delete a segment."""
    _load(uow, segment_id)
    uow.segments.delete(segment_id)


def get_segment(uow: ContactsUnitOfWork, segment_id: str) -> dict[str, Any]:
    """One segment."""
    return _view(_load(uow, segment_id))


def list_segments(uow: ContactsUnitOfWork, limit: int, cursor: str | None) -> dict[str, Any]:
    """A page of segments in creation order."""
    position = decode_cursor(cursor, {"after": str})
    rows = uow.segments.page(after=position["after"] if position else None, limit=limit + 1)
    page, next_cursor = next_page(rows, limit, lambda last: {"after": last.id})
    return {"items": [_view(r) for r in page], "next_cursor": next_cursor}


def count_members(uow: ContactsUnitOfWork, segment_id: str) -> int:
    """How many live contacts the segment holds now (one SQL COUNT)."""
    definition = _load(uow, segment_id).definition
    with filter_errors("definition"):
        return uow.segments.count_members(definition)


def members_page(uow: ContactsUnitOfWork, segment_id: str, after: str | None, limit: int) -> dict[str, Any]:
    """Members with id > `after`, in id order: a keyset page, cheap at any depth."""
    definition = _load(uow, segment_id).definition
    with filter_errors("definition"):
        rows = uow.segments.members(definition, after=after, limit=limit)
    items = [{"contact_id": r.id, **{name: getattr(r, name) for name in MEMBER_COLUMNS[1:]}} for r in rows]
    return {"items": items, "next_after": rows[-1].id if len(rows) == limit else None}
