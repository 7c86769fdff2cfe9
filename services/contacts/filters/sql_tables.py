"""JsonbTableResolver: a SqlResolver over contacts/consents/suppressions/events tables.

Expected columns (names of the contact id and attributes columns are configurable):
contacts(id, <real columns>..., attributes JSONB); consents(contact_id, channel, status);
suppressions(contact_id, scope, value, expires_at); events(contact_id, type, occurred_at, data JSONB).
Paths: `contact.x` / bare `x` -> a real contacts column when one is named x, else attributes->'x';
`contact.attributes.x` -> attributes->'x'; `consent.email` -> that consent's status. `event.*` has no
meaning in a segment and raises FilterCompileError.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSON, JSONB
from sqlalchemy.sql.elements import ColumnElement

from services.contacts.filters.sql import FilterCompileError, SqlField, SqlResolver, WhereBuilder
from shared.filters.values import GRANTED


class JsonbTableResolver:
    """Resolves filter paths and functions against the given tables, correlated on the contacts row."""

    def __init__(
        self,
        contacts: sa.Table,
        consents: sa.Table,
        suppressions: sa.Table,
        events: sa.Table,
        *,
        contact_id_column: str = "id",
        attributes_column: str = "attributes",
        now: datetime | None = None,
    ) -> None:
        self.contacts = contacts
        self.consents = consents
        self.suppressions = suppressions
        self.events = events
        self.contact_id = contacts.c[contact_id_column]
        self.attributes = contacts.c[attributes_column]
        self.fixed_now = now

    def now(self) -> ColumnElement[datetime]:
        """The reference time: the fixed `now` given to the constructor, else the database's now()."""
        if self.fixed_now is None:
            return sa.func.now()
        return sa.literal(self.fixed_now, sa.DateTime(timezone=True))

    def column(self, path: tuple[str, ...]) -> SqlField:
        """The SQL location of a contact path (see the module docstring)."""
        root, rest = path[0], path[1:]
        if root == "event":
            raise FilterCompileError("event fields are only available in trigger conditions, not in segments")
        if root == "consent":
            if len(rest) != 1:
                raise FilterCompileError("consent paths look like consent.email")
            status = (
                sa.select(self.consents.c.status)
                .where(self.consents.c.contact_id == self.contact_id, self.consents.c.channel == rest[0])
                .limit(1)
                .scalar_subquery()
            )
            return SqlField(status)
        if root == "contact":
            path = rest
        if not path:
            raise FilterCompileError("'contact' needs a field name, e.g. contact.tier")
        if path[0] not in self.contacts.c:
            return SqlField(self.attributes, path)
        column = self.contacts.c[path[0]]
        if len(path) == 1:
            return SqlField(column)
        if not isinstance(column.type, JSON | JSONB | sa.JSON):
            raise FilterCompileError(f"{'.'.join(path)!r}: {path[0]!r} is not a JSON column")
        return SqlField(column, path[1:])

    def has_consent(self, channel: str) -> ColumnElement[bool]:
        """EXISTS a granted consent row for the channel."""
        consents = self.consents.c
        return sa.exists().where(
            consents.contact_id == self.contact_id, consents.channel == channel, consents.status == GRANTED
        )

    def is_suppressed(self, channel: str | None, topic: str | None) -> ColumnElement[bool]:
        """EXISTS an unexpired suppression that is global or matches the channel/topic."""
        rows = self.suppressions.c
        matches = [rows.scope == "global"]
        if channel is not None:
            matches.append(sa.and_(rows.scope == "channel", rows.value == channel))
        if topic is not None:
            matches.append(sa.and_(rows.scope == "topic", rows.value == topic))
        return sa.exists().where(
            rows.contact_id == self.contact_id,
            sa.or_(rows.expires_at.is_(None), rows.expires_at > self.now()),
            sa.or_(*matches),
        )

    def event_count(
        self, event_type: str, since_seconds: float | None, where: WhereBuilder | None
    ) -> ColumnElement[int]:
        """Scalar subquery: how many of the contact's events match."""
        conditions = self._event_conditions(event_type, since_seconds, where)
        return sa.select(sa.func.count()).select_from(self.events).where(*conditions).scalar_subquery()

    def event_exists(
        self, event_type: str, since_seconds: float | None, where: WhereBuilder | None
    ) -> ColumnElement[bool]:
        """EXISTS one of the contact's events that matches."""
        return sa.exists().where(*self._event_conditions(event_type, since_seconds, where))

    def event_scope(self) -> SqlResolver:
        """Resolver for `where=`: paths address the event's data JSONB."""
        return _EventDataResolver(self.events)

    def _event_conditions(
        self, event_type: str, since_seconds: float | None, where: WhereBuilder | None
    ) -> list[ColumnElement[bool]]:
        rows = self.events.c
        conditions = [rows.contact_id == self.contact_id, rows.type == event_type]
        if since_seconds is not None:
            window = sa.literal(timedelta(seconds=since_seconds), sa.Interval())
            conditions.append(rows.occurred_at >= self.now() - window)
        if where is not None:
            conditions.append(where(self.event_scope()))
        return conditions


class _EventDataResolver:
    """Inside did()/count() `where=`: every path is a path in events.data."""

    def __init__(self, events: sa.Table) -> None:
        self.events = events

    def column(self, path: tuple[str, ...]) -> SqlField:
        """The path inside the event's data."""
        return SqlField(self.events.c.data, path)

    def has_consent(self, channel: str) -> ColumnElement[bool]:
        """Not available inside where."""
        raise FilterCompileError("has_consent() is not allowed inside where")

    def is_suppressed(self, channel: str | None, topic: str | None) -> ColumnElement[bool]:
        """Not available inside where."""
        raise FilterCompileError("suppressed() is not allowed inside where")

    def event_count(self, *args: Any) -> ColumnElement[int]:
        """Not available inside where."""
        raise FilterCompileError("count() is not allowed inside where")

    def event_exists(self, *args: Any) -> ColumnElement[bool]:
        """Not available inside where."""
        raise FilterCompileError("did() is not allowed inside where")

    def event_scope(self) -> SqlResolver:
        """Already the event scope."""
        return self
