"""`SegmentStore`: named filters over contacts, and their members counted and paged in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, and_, func, select
from sqlalchemy.exc import IntegrityError

from services.contacts.repository.contacts import contact_condition
from services.contacts.repository.tables import LIVE, contacts, segments

MEMBER_COLUMNS = ("id", "external_id", "email", "phone", "first_name", "last_name", "locale", "time_zone",
                  "attributes")


class NameTaken(Exception):
    """Another segment has this name."""


class SegmentStore:
    """The queries of the segment use cases, bound to one transaction's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def segment(self, segment_id: str) -> Any:
        """The segment row, or None."""
        return self.conn.execute(select(segments).where(segments.c.id == segment_id)).first()

    def check(self, definition: str) -> None:
        """Compile a definition, raising the filter language's errors if it does not parse or compile."""
        contact_condition(definition)

    def create(self, values: dict[str, Any]) -> Any:
        """Insert a segment; NameTaken (and nothing written) when its name is used."""
        return self._save(segments.insert().values(**values).returning(*segments.c))

    def update(self, segment_id: str, values: dict[str, Any]) -> Any:
        """Change a segment's columns; NameTaken (and nothing written) when the new name is used."""
        return self._save(segments.update().where(segments.c.id == segment_id).values(**values)
                          .returning(*segments.c))

    def delete(self, segment_id: str) -> None:
        """Delete a segment."""
        self.conn.execute(segments.delete().where(segments.c.id == segment_id))

    def page(self, *, after: str | None, limit: int) -> Sequence[Row]:
        """Up to `limit` segments with id > `after`, in id (= creation) order."""
        query = select(segments).order_by(segments.c.id).limit(limit)
        if after:
            query = query.where(segments.c.id > after)
        return self.conn.execute(query).all()

    def count_members(self, definition: str) -> int:
        """How many live contacts match a definition now (one SQL COUNT)."""
        return self.conn.execute(select(func.count()).select_from(contacts).where(_members(definition))).scalar_one()

    def members(self, definition: str, *, after: str | None, limit: int) -> Sequence[Row]:
        """Up to `limit` live contacts matching a definition with id > `after`, in id order (a keyset page)."""
        condition = _members(definition)
        if after:
            condition = and_(condition, contacts.c.id > after)
        columns = [contacts.c[name] for name in MEMBER_COLUMNS]
        return self.conn.execute(select(*columns).where(condition).order_by(contacts.c.id).limit(limit)).all()

    def _save(self, statement: Any) -> Any:
        savepoint = self.conn.begin_nested()  # a taken name must not abort the caller's transaction
        try:
            row = self.conn.execute(statement).first()
        except IntegrityError:
            savepoint.rollback()
            raise NameTaken from None
        savepoint.commit()
        return row


def _members(definition: str) -> Any:
    return and_(LIVE, contact_condition(definition))
