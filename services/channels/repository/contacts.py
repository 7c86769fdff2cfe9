"""The channels service's copy of contact facts, and the per-contact lock every policy writer takes.

Every writer that changes what the gate decides on (the gate itself, the suppression and consent
copies, erasure, bounce webhooks) first takes the contact's row lock through `lock`, always in
contact-id order so two transactions locking several contacts cannot deadlock each other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, String, any_, bindparam, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.channels.domain import Suppression
from services.channels.repository.tables import consents, contact_policy, suppressions


def any_ids(contact_ids: Sequence[str]):
    """`= ANY(<one text[] parameter>)`: a forecast asks about 5,000 contacts at once, and `IN` with 5,000
    parameters costs more to build and parse than the query takes to run."""
    return any_(bindparam(None, list(contact_ids), type_=ARRAY(String)))


_CREATE_MISSING = text("INSERT INTO contact_policy (contact_id) SELECT unnest(CAST(:ids AS text[])) "
                       "ON CONFLICT (contact_id) DO NOTHING")


class ContactCopy:
    """`contact_policy`, `suppressions` and `consents` of one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def lock(self, contact_ids: Iterable[str]) -> dict[str, Row]:
        """Create missing `contact_policy` rows and lock all of them (FOR UPDATE, id order); return them."""
        ids = sorted(set(contact_ids))
        if not ids:
            return {}
        # Two constant statements with one array parameter each: a VALUES list and an IN list were a new
        # statement (compiled, then parsed by psycopg) for every batch size, at every gate batch.
        self.conn.execute(_CREATE_MISSING, {"ids": ids})
        rows = self.conn.execute(select(contact_policy).where(contact_policy.c.contact_id == any_ids(ids))
                                 .order_by(contact_policy.c.contact_id).with_for_update()).all()
        return {row.contact_id: row for row in rows}

    def profiles(self, contact_ids: Sequence[str]) -> dict[str, Row]:
        """The contacts' rows without locking them (absent: never seen)."""
        return {row.contact_id: row for row in
                self.conn.execute(select(contact_policy).where(contact_policy.c.contact_id == any_ids(contact_ids)))}

    def facts(self, contact_ids: Sequence[str]) -> tuple[dict[str, list[Suppression]], dict[str, dict[str, str]]]:
        """Active suppressions and recorded consents (channel -> status) of each contact."""
        sup: dict[str, list[Suppression]] = defaultdict(list)
        for row in self.conn.execute(select(suppressions).where(suppressions.c.contact_id == any_ids(contact_ids),
                                                                suppressions.c.active)):
            sup[row.contact_id].append(Suppression(row.suppression_id, row.scope, row.value, row.reason,
                                                   row.expires_at))
        con: dict[str, dict[str, str]] = defaultdict(dict)
        for row in self.conn.execute(select(consents).where(consents.c.contact_id == any_ids(contact_ids))):
            con[row.contact_id][row.channel] = row.status
        return sup, con

    def with_address(self, column: str, value: str | None) -> list[str]:
        """Ids of the contacts whose `email` or `phone` is `value`, sorted."""
        return sorted(self.conn.execute(select(contact_policy.c.contact_id)
                                        .where(contact_policy.c[column] == value)).scalars())

    def upsert_suppression(self, contact_id: str, suppression_id: str, scope: str, value: str | None, reason: str,
                           active: bool, changed_at: datetime, expires_at: datetime | None = None) -> None:
        """Record a suppression's state unless a newer state is already recorded (caller holds the lock)."""
        stmt = pg_insert(suppressions).values(contact_id=contact_id, suppression_id=suppression_id, scope=scope,
                                              value=value, reason=reason, expires_at=expires_at, active=active,
                                              changed_at=changed_at)
        self.conn.execute(stmt.on_conflict_do_update(
            index_elements=["contact_id", "suppression_id"],
            set_={c: stmt.excluded[c] for c in ("scope", "value", "reason", "expires_at", "active", "changed_at")},
            where=suppressions.c.changed_at <= stmt.excluded.changed_at))

    def upsert_consent(self, contact_id: str, channel: str, status: str, changed_at: datetime) -> None:
        """Record a consent unless a newer one is already recorded."""
        stmt = pg_insert(consents).values(contact_id=contact_id, channel=channel, status=status,
                                          changed_at=changed_at)
        self.conn.execute(stmt.on_conflict_do_update(
            index_elements=["contact_id", "channel"],
            set_={"status": stmt.excluded.status, "changed_at": stmt.excluded.changed_at},
            where=consents.c.changed_at <= stmt.excluded.changed_at))

    def update_profile(self, contact_id: str, fields: dict[str, Any], updated_at: datetime) -> None:
        """Keep the reachability fields unless newer ones are recorded (never for an erased contact)."""
        self.conn.execute(update(contact_policy).where(
            contact_policy.c.contact_id == contact_id, contact_policy.c.erased.is_(False),
            or_(contact_policy.c.profile_updated_at.is_(None), contact_policy.c.profile_updated_at <= updated_at))
            .values(**fields, profile_updated_at=updated_at))

    def forget_facts(self, contact_id: str) -> None:
        """Drop a contact's consents and suppressions (a merged-away profile: the survivor holds them now)."""
        self.conn.execute(suppressions.delete().where(suppressions.c.contact_id == contact_id))
        self.conn.execute(consents.delete().where(consents.c.contact_id == contact_id))

    def erase(self, contact_id: str) -> None:
        """Mark the contact erased and drop its personal fields."""
        self.conn.execute(update(contact_policy).where(contact_policy.c.contact_id == contact_id).values(
            erased=True, time_zone=None, email=None, phone=None, first_name=None, last_name=None, locale=None))


def profile_fields(row: Row | None) -> dict[str, Any]:
    """The reachability copy of a contact (address, names, locale) as a plain dict."""
    if row is None:
        return {}
    return {"email": row.email, "phone": row.phone, "first_name": row.first_name, "last_name": row.last_name,
            "time_zone": row.time_zone, "locale": row.locale}
