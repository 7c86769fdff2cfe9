"""Segments: named filters over contacts, counted and streamed in SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from services.contacts.domain.ids import new_id
from services.contacts.filters import FilterCompileError, JsonbTableResolver, compile_sql
from services.contacts.handlers.common import now
from services.contacts.repository import consents, contacts, events, segments, suppressions
from shared.errors import Conflict, Invalid, NotFound
from shared.filters import FilterSyntaxError, parse
from shared.http.cursor import decode_cursor, next_page

MEMBER_COLUMNS = ("id", "external_id", "email", "phone", "first_name", "last_name", "locale", "time_zone",
                  "attributes")
SEGMENT_COLUMNS = ("id", "name", "description", "definition", "created_at", "updated_at")


def compile_filter(text: str, field: str) -> ColumnElement[bool]:
    """The SQL condition on `contacts` of a filter text; Invalid naming `field` (with the position) otherwise."""
    try:
        return compile_sql(parse(text), JsonbTableResolver(contacts, consents, suppressions, events))
    except FilterSyntaxError as exc:
        raise Invalid(f"{field}: {exc.message} at position {exc.position}",
                      {field: [f"{exc.message} at position {exc.position}"]}) from None
    except FilterCompileError as exc:
        raise Invalid(f"{field}: {exc}", {field: [str(exc)]}) from None


def _view(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in SEGMENT_COLUMNS}


def _load(conn: Connection, segment_id: str) -> Any:
    row = conn.execute(select(segments).where(segments.c.id == segment_id)).first() if len(segment_id) <= 36 else None
    if row is None:
        raise NotFound(f"no segment {segment_id[:64]!r}")
    return row


def _save(conn: Connection, statement: Any) -> Any:
    savepoint = conn.begin_nested()  # a taken name must not abort the caller's transaction
    try:
        row = conn.execute(statement).first()
    except IntegrityError:
        savepoint.rollback()
        raise Conflict("a segment with this name exists", {"name": ["already used by another segment"]}) from None
    savepoint.commit()
    return row


def create_segment(conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    """Create a segment after checking its definition compiles."""
    compile_filter(data["definition"], "definition")
    stamp = now()
    row = _save(conn, segments.insert().values(id=new_id(), name=data["name"], description=data.get("description"),
                                               definition=data["definition"], created_at=stamp, updated_at=stamp)
                .returning(*segments.c))
    return _view(row)


def update_segment(conn: Connection, segment_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Change a segment's name, description or definition."""
    _load(conn, segment_id)
    if "definition" in data:
        compile_filter(data["definition"], "definition")
    row = _save(conn, segments.update().where(segments.c.id == segment_id).values(updated_at=now(), **data)
                .returning(*segments.c))
    return _view(row)


def delete_segment(conn: Connection, segment_id: str) -> None:
    """Delete a segment."""
    _load(conn, segment_id)
    conn.execute(segments.delete().where(segments.c.id == segment_id))


def get_segment(conn: Connection, segment_id: str) -> dict[str, Any]:
    """One segment."""
    return _view(_load(conn, segment_id))


def list_segments(conn: Connection, limit: int, cursor: str | None) -> dict[str, Any]:
    """A page of segments in creation order."""
    query = select(segments).order_by(segments.c.id).limit(limit + 1)
    position = decode_cursor(cursor, {"after": str})
    if position:
        query = query.where(segments.c.id > position["after"])
    rows = conn.execute(query).all()
    page, next_cursor = next_page(rows, limit, lambda last: {"after": last.id})
    return {"items": [_view(r) for r in page], "next_cursor": next_cursor}


def _members_condition(conn: Connection, segment_id: str) -> ColumnElement[bool]:
    definition = _load(conn, segment_id).definition
    return and_(contacts.c.erased_at.is_(None), compile_filter(definition, "definition"))


def count_members(conn: Connection, segment_id: str) -> int:
    """How many live contacts the segment holds now (one SQL COUNT)."""
    condition = _members_condition(conn, segment_id)
    return conn.execute(select(func.count()).select_from(contacts).where(condition)).scalar_one()


def members_page(conn: Connection, segment_id: str, after: str | None, limit: int) -> dict[str, Any]:
    """Members with id > `after`, in id order: a keyset page, cheap at any depth."""
    condition = _members_condition(conn, segment_id)
    if after:
        condition = and_(condition, contacts.c.id > after)
    columns = [contacts.c[name] for name in MEMBER_COLUMNS]
    rows = conn.execute(select(*columns).where(condition).order_by(contacts.c.id).limit(limit)).all()
    items = [{"contact_id": r.id, **{name: getattr(r, name) for name in MEMBER_COLUMNS[1:]}} for r in rows]
    return {"items": items, "next_after": rows[-1].id if len(rows) == limit else None}
