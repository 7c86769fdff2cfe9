"""The `audit_log` table and its repository, `AuditLog`, which every unit of work carries as `uow.audit`.

Each service database (and the auth database, for API keys) has its own `audit_log`, created by
`shared.db.audit_migration`. Rows are append-only: a trigger refuses UPDATE, DELETE and TRUNCATE
for every database user, the owner included. The one exception is erasure (`redact_subject`): it
sets the transaction-local `touchpoint.audit_redaction` to `on` for its own statement, and the
trigger then lets an UPDATE change only `details` and set `redacted_at`; every other column must
stay as it was. So a record is never removed or re-attributed, and personal data in it can still
be erased.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Identity,
    Index,
    MetaData,
    String,
    Table,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.audit.details import change_details, redact

if TYPE_CHECKING:
    from shared.auth.keys import ApiKey

REDACTION_SETTING = "touchpoint.audit_redaction"

metadata = MetaData()
audit_log = Table(  # the same table in every database that has one (shared.db.audit_migration)
    "audit_log",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor_key_id", String(32)),
    Column("actor_name", String(200)),
    Column("actor_role", String(32)),
    Column("action", String(64), nullable=False),
    Column("entity_type", String(32), nullable=False),
    Column("entity_id", String(128), nullable=False),
    # the contact whose personal data `details` may hold: erasure of that contact redacts the row
    Column("subject_id", String(64)),
    Column("details", JSONB),
    Column("redacted_at", DateTime(timezone=True)),
    Index("ix_audit_log_entity", "entity_type", "entity_id", "id"),
    Index("ix_audit_log_subject", "subject_id", postgresql_where=text("subject_id IS NOT NULL")),
)


@dataclass(frozen=True)
class AuditFilter:
    """What `GET /audit` narrows the trail to; None means any."""

    actor: str | None = None
    action: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditLog:
    """Records and reads the audit trail on one connection (inside the caller's transaction).

    `actor` is who the records are attributed to: `shared.http.context.unit_of_work()` sets it to
    the request's API key, so a handler records without knowing about HTTP. None means no API key:
    a contact through a signed public page, a message from another service, or an admin command."""

    def __init__(self, conn: Connection, actor: ApiKey | None = None) -> None:
        self.conn = conn
        self.actor = actor

    def record(self, action: str, entity_type: str, entity_id: str, *, at: datetime, before: Any = None,
               after: Any = None, subject_id: str | None = None) -> int:
        """Append one record by `actor` (bounded before/after, `shared.audit.details`); return its id.

        `at` is the unit of work's clock; `subject_id` the contact whose personal data the before/after
        may hold (erasing that contact redacts them)."""
        actor = self.actor
        return self.conn.execute(insert(audit_log).values(
            at=at, action=action, entity_type=entity_type, entity_id=str(entity_id), subject_id=subject_id,
            actor_key_id=actor.key_id if actor else None, actor_name=actor.name if actor else None,
            actor_role=actor.role if actor else None, details=change_details(before, after),
        ).returning(audit_log.c.id)).scalar_one()

    def page(self, where: AuditFilter, limit: int, before_id: int | None = None) -> list[dict[str, Any]]:
        """Records newest first (keyset on id), `limit` of them, only ids below `before_id` when given."""
        c = audit_log.c
        query = select(audit_log).order_by(c.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(c.id < before_id)
        if where.actor is not None:
            query = query.where(or_(c.actor_name == where.actor, c.actor_key_id == where.actor))
        for column, value in ((c.action, where.action), (c.entity_type, where.entity_type),
                              (c.entity_id, where.entity_id)):
            if value is not None:
                query = query.where(column == value)
        if where.since is not None:
            query = query.where(c.at >= where.since)
        if where.until is not None:
            query = query.where(c.at < where.until)
        return [dict(row._mapping) for row in self.conn.execute(query)]

    def redact_subject(self, subject_id: str, personal: Collection[str], at: datetime) -> int:
        """Erase the values of `personal` fields from every record about `subject_id`; return how many changed.

        The only UPDATE the append-only trigger admits, and only while the transaction-local setting
        is on: it is switched on for these statements and off again before returning."""
        rows = self.conn.execute(select(audit_log.c.id, audit_log.c.details).where(
            audit_log.c.subject_id == subject_id, audit_log.c.redacted_at.is_(None))
            .order_by(audit_log.c.id).with_for_update()).all()
        if not rows:
            return 0
        self._allow_redaction(True)
        try:
            for row in rows:
                self.conn.execute(update(audit_log).where(audit_log.c.id == row.id).values(
                    details=redact(row.details, personal), redacted_at=at))
        finally:
            self._allow_redaction(False)
        return len(rows)

    def _allow_redaction(self, on: bool) -> None:
        self.conn.execute(select(text(f"set_config('{REDACTION_SETTING}', :value, true)")),
                          {"value": "on" if on else "off"})


def entry_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A record as `GET /audit` answers it: the actor as one object (null: no API key)."""
    actor = ({"key_id": row["actor_key_id"], "name": row["actor_name"], "role": row["actor_role"]}
             if row["actor_key_id"] is not None else None)
    return {"id": row["id"], "at": row["at"], "actor": actor, "action": row["action"],
            "entity_type": row["entity_type"], "entity_id": row["entity_id"], "details": row["details"],
            "redacted_at": row["redacted_at"]}
