"""`ContactStore`: the contact aggregate (its row, consents, suppressions and timeline) and its queries."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, String, and_, any_, bindparam, or_, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from services.contacts.domain.contact import UNIQUE_KEYS, KeyTaken
from services.contacts.filters import JsonbTableResolver, compile_sql
from services.contacts.repository.tables import (
    LIVE,
    consent_history,
    consents,
    contacts,
    events,
    suppressions,
    timeline,
)
from shared.filters import parse


def contact_condition(filter_text: str) -> ColumnElement[bool]:
    """The SQL condition on `contacts` of a filter expression.

    Raises `shared.filters.FilterSyntaxError` or `services.contacts.filters.FilterCompileError`;
    the handler names the field in its answer.
    """
    return compile_sql(parse(filter_text), JsonbTableResolver(contacts, consents, suppressions, events))

# Built once, the ids as one text[] parameter: every POST /events and every batch of outcomes runs
# these, and an expanding IN is rendered and compiled anew for each number of ids.
_IDS = bindparam("ids", type_=ARRAY(String))
_RESOLVE = select(contacts.c.id, contacts.c.external_id, contacts.c.erased_at, contacts.c.merged_into).where(
    or_(contacts.c.id == any_(_IDS), contacts.c.external_id == any_(bindparam("external_ids", type_=ARRAY(String)))))
# The entries as arrays: one statement text and one execution whatever their number (an executemany
# was an INSERT per entry on the server, the contacts worker's largest cost per message outcome).
_ADD_TIMELINE_MANY = text(
    f"INSERT INTO {timeline.name} (contact_id, kind, type, occurred_at, data, ref) "
    "SELECT t.contact_id, t.kind, t.type, t.occurred_at, t.data, t.ref "
    "FROM unnest(CAST(:contact_ids AS text[]), CAST(:kinds AS text[]), CAST(:types AS text[]), "
    "CAST(:occurred AS timestamptz[]), CAST(:data AS jsonb[]), CAST(:refs AS text[])) "
    "WITH ORDINALITY AS t(contact_id, kind, type, occurred_at, data, ref, n) ORDER BY t.n")
_LIVE_IDS = select(contacts.c.id).where(contacts.c.id == any_(_IDS), LIVE)


def _taken_key(exc: IntegrityError) -> str:
    """The contact field whose unique index `exc` reports (external_id when it cannot tell)."""
    constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or ""
    return next((key for key in UNIQUE_KEYS if key in constraint), "external_id")


class ContactStore:
    """The queries of the contact aggregate, bound to one transaction's connection.

    `tests/unit/contacts/fakes.py` fakes it, so handlers run with no database.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- the contact row

    def contact(self, contact_id: str, *, for_update: bool = False) -> Any:
        """The contact row, or None; `for_update` locks it for the rest of the transaction."""
        query = select(contacts).where(contacts.c.id == contact_id)
        return self.conn.execute(query.with_for_update() if for_update else query).first()

    def erased_state(self, contact_id: str) -> Any:
        """(id, erased_at, merged_into) of a contact, or None: enough to tell unknown, erased, merged and live apart."""
        return self.conn.execute(select(contacts.c.id, contacts.c.erased_at, contacts.c.merged_into)
                                 .where(contacts.c.id == contact_id)).first()

    def live_ids(self, contact_ids: Iterable[str]) -> set[str]:
        """Which of these contact ids name a contact that exists and is not erased."""
        return set(self.conn.execute(_LIVE_IDS, {"ids": list(contact_ids)}).scalars())

    def redirects(self, contact_ids: Iterable[str]) -> dict[str, str]:
        """For those of these ids that name a merged contact (a tombstone): the contact it was merged into."""
        return dict(self.conn.execute(select(contacts.c.id, contacts.c.merged_into).where(
            contacts.c.id == any_(_IDS), contacts.c.merged_into.is_not(None)), {"ids": list(contact_ids)}).all())

    def merged_ids(self, survivor_id: str) -> list[str]:
        """The tombstones merged into this contact (chains are flattened when merged, so one level)."""
        return list(self.conn.execute(select(contacts.c.id).where(contacts.c.merged_into == survivor_id)
                                      .order_by(contacts.c.id)).scalars())

    # -- merge

    def tombstone(self, duplicate_id: str, survivor_id: str, stamp: datetime) -> None:
        """Make the duplicate (and every earlier tombstone of it) point at the survivor; it leaves the live set."""
        self.conn.execute(contacts.update().where(or_(contacts.c.id == duplicate_id,
                                                      contacts.c.merged_into == duplicate_id))
                          .values(merged_into=survivor_id, updated_at=stamp))

    def move_records(self, duplicate_id: str, survivor_id: str) -> None:
        """Move the duplicate's events, timeline, consent history and suppressions to the survivor.

        Its current consents are dropped: the caller folds them into the survivor's first.
        """
        for table in (events, timeline, consent_history, suppressions):
            self.conn.execute(table.update().where(table.c.contact_id == duplicate_id)
                              .values(contact_id=survivor_id))
        self.conn.execute(consents.delete().where(consents.c.contact_id == duplicate_id))

    def insert(self, contact_id: str, values: dict[str, Any], stamp: datetime) -> Any:
        """Create a contact; None when one of its unique keys is taken (nothing is written then).

        No conflict target: the unique indexes on external_id and on the live contacts' email and
        phone all count. A concurrent insert of the same key makes this wait for that transaction;
        if it commits, this one writes nothing (`holder` then names the winner).
        """
        return self.conn.execute(
            pg_insert(contacts)
            .values(id=contact_id, created_at=stamp, updated_at=stamp, **{"attributes": {}, **values})
            .on_conflict_do_nothing()
            .returning(*contacts.c)
        ).first()

    def holder(self, values: dict[str, Any], *, other_than: str | None = None) -> tuple[str, str] | None:
        """(field, contact id) of the first unique key in `values` that another contact holds, or None.

        external_id is unique over every row (a tombstone keeps its own); email and phone over live
        contacts only.
        """
        for key in UNIQUE_KEYS:
            value = values.get(key)
            if not value:
                continue
            condition = contacts.c[key] == value
            if key != "external_id":
                condition = condition & LIVE
            if other_than is not None:
                condition = condition & (contacts.c.id != other_than)
            found = self.conn.execute(select(contacts.c.id).where(condition).limit(1)).scalar()
            if found is not None:
                return key, found
        return None

    def update(self, contact_id: str, values: dict[str, Any], stamp: datetime) -> Any:
        """Write the given columns (and updated_at = `stamp`); the new row.

        Raises KeyTaken when a concurrent writer took one of the unique keys since the caller
        checked (in a savepoint, so the transaction stays usable).
        """
        try:
            with self.conn.begin_nested():
                return self.conn.execute(
                    contacts.update().where(contacts.c.id == contact_id).values(updated_at=stamp, **values)
                    .returning(*contacts.c)
                ).first()
        except IntegrityError as exc:
            raise KeyTaken(_taken_key(exc)) from None

    def live_page(self, *, after: str | None, external_id: str | None, email: str | None, where: str | None,
                  limit: int) -> Sequence[Row]:
        """Up to `limit` live contacts with id > `after` in id order, matching the given filters."""
        conditions = [LIVE]
        if after:
            conditions.append(contacts.c.id > after)
        if external_id is not None:
            conditions.append(contacts.c.external_id == external_id)
        if email is not None:
            conditions.append(contacts.c.email == email)
        if where:
            conditions.append(contact_condition(where))
        return self.conn.execute(select(contacts).where(and_(*conditions)).order_by(contacts.c.id).limit(limit)
                                 ).all()

    def resolve(self, ids: Iterable[str], external_ids: Iterable[str]) -> Sequence[Row]:
        """(id, external_id, erased_at) of the contacts named by id or by external_id."""
        return self.conn.execute(_RESOLVE, {"ids": list(ids), "external_ids": list(external_ids)}).all()

    # -- consent

    def save_consent(self, contact_id: str, channel: str, status: str, source: str | None,
                     changed_at: datetime) -> None:
        """Set the current consent on a channel and append it to the history."""
        values = {"contact_id": contact_id, "channel": channel, "status": status, "source": source,
                  "changed_at": changed_at}
        self.conn.execute(pg_insert(consents).values(**values).on_conflict_do_update(
            index_elements=["contact_id", "channel"],
            set_={"status": status, "source": source, "changed_at": changed_at}))
        self.conn.execute(consent_history.insert().values(**values))

    def consents(self, contact_id: str) -> Sequence[Row]:
        """The current consent per channel, by channel."""
        return self.conn.execute(select(consents).where(consents.c.contact_id == contact_id)
                                 .order_by(consents.c.channel)).all()

    def consent_history(self, contact_id: str) -> Sequence[Row]:
        """Every consent change, oldest first."""
        return self.conn.execute(select(consent_history).where(consent_history.c.contact_id == contact_id)
                                 .order_by(consent_history.c.id)).all()

    # -- suppressions

    def add_suppression(self, values: dict[str, Any], *, source_ref: str | None = None) -> Any:
        """Insert a suppression; with `source_ref`, None when that request was already stored."""
        statement = pg_insert(suppressions).values(source_ref=source_ref, **values)
        if source_ref is not None:
            statement = statement.on_conflict_do_nothing(index_elements=["source_ref"],
                                                         index_where=suppressions.c.source_ref.is_not(None))
        return self.conn.execute(statement.returning(*suppressions.c)).first()

    def suppression(self, contact_id: str, suppression_id: str) -> Any:
        """One suppression of the contact, or None."""
        return self.conn.execute(select(suppressions).where(suppressions.c.id == suppression_id,
                                                            suppressions.c.contact_id == contact_id)).first()

    def lift_suppression(self, suppression_id: str, stamp: datetime) -> Any:
        """Lift a suppression at `stamp` (it expires then too, so active checks read expires_at only)."""
        return self.conn.execute(suppressions.update().where(suppressions.c.id == suppression_id)
                                 .values(lifted_at=stamp, expires_at=stamp).returning(*suppressions.c)).first()

    def suppressions(self, contact_id: str, *, active_at: datetime | None) -> Sequence[Row]:
        """The contact's suppressions, newest first; with `active_at`, only those active then."""
        query = select(suppressions).where(suppressions.c.contact_id == contact_id)
        if active_at is not None:
            query = query.where(or_(suppressions.c.expires_at.is_(None), suppressions.c.expires_at > active_at))
        return self.conn.execute(query.order_by(suppressions.c.id.desc())).all()

    # -- timeline

    def add_timeline(self, contact_id: str, kind: str, type: str, occurred_at: datetime,
                     data: dict[str, Any] | None = None, *, ref: str | None = None) -> None:
        """Append an entry to the contact's timeline."""
        values: dict[str, Any] = {"contact_id": contact_id, "kind": kind, "type": type, "occurred_at": occurred_at,
                                  "ref": ref}
        if data is not None:  # else the column's default, {}
            values["data"] = data
        self.conn.execute(timeline.insert().values(**values))

    def add_timeline_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append entries (contact_id, kind, type, occurred_at, data, ref) to timelines, in one statement."""
        if rows:
            self.conn.execute(_ADD_TIMELINE_MANY, {
                "contact_ids": [r["contact_id"] for r in rows], "kinds": [r["kind"] for r in rows],
                "types": [r["type"] for r in rows], "occurred": [r["occurred_at"] for r in rows],
                "data": [json.dumps(r["data"]) for r in rows], "refs": [r.get("ref") for r in rows]})

    def timeline_page(self, contact_id: str, *, before: tuple[datetime, int] | None, limit: int) -> Sequence[Row]:
        """Up to `limit` timeline entries older than `before` (occurred_at, id), newest first."""
        query = select(timeline).where(timeline.c.contact_id == contact_id)
        if before:
            query = query.where(tuple_(timeline.c.occurred_at, timeline.c.id) < tuple_(*before))
        return self.conn.execute(query.order_by(timeline.c.occurred_at.desc(), timeline.c.id.desc()).limit(limit)
                                 ).all()

    # -- GDPR

    def erase(self, contact_id: str, personal_fields: Iterable[str], stamp: datetime) -> Any:
        """Null the personal fields and every stored free text of a contact (the row stays); the new row."""
        row = self.conn.execute(contacts.update().where(contacts.c.id == contact_id)
                                .values(attributes={}, erased_at=stamp, updated_at=stamp,
                                        **dict.fromkeys(personal_fields))
                                .returning(*contacts.c)).first()
        self.conn.execute(events.update().where(events.c.contact_id == contact_id).values(data={}))
        self.conn.execute(timeline.update().where(timeline.c.contact_id == contact_id).values(data={}))
        self.conn.execute(consents.update().where(consents.c.contact_id == contact_id).values(source=None))
        self.conn.execute(consent_history.update().where(consent_history.c.contact_id == contact_id)
                          .values(source=None))
        self.conn.execute(suppressions.update().where(suppressions.c.contact_id == contact_id).values(source=None))
        return row

    def everything_about(self, contact_id: str) -> dict[str, list[dict[str, Any]]]:
        """Every row held about a contact outside its own, per table (without the contact_id column)."""

        def rows(table: Any, *order: Any) -> list[dict[str, Any]]:
            query = select(table).where(table.c.contact_id == contact_id).order_by(*order)
            return [{k: v for k, v in r._mapping.items() if k != "contact_id"} for r in self.conn.execute(query)]

        return {
            "consents": rows(consents, consents.c.channel),
            "consent_history": rows(consent_history, consent_history.c.id),
            "suppressions": rows(suppressions, suppressions.c.id),
            "events": rows(events, events.c.occurred_at, events.c.id),
            "timeline": rows(timeline, timeline.c.occurred_at, timeline.c.id),
        }
