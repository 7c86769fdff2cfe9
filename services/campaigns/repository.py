"""Tables of the campaigns database (SQLAlchemy Core); queries live with the handlers that use them.

Definitions (`campaigns`, `campaign_versions`, `templates`), the local projections of contact
facts that conditions and templates read (`contacts`, `consents`, `suppressions`,
`contact_events`), and the enrollment state with its measurements (`enrollments`,
`step_sends`, `send_outcomes`, `broadcast_runs`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.campaigns.domain.enrollment import Enrollment
from shared.messaging import MessagingTables

metadata = MetaData()
TABLES = MessagingTables(metadata)

ID = 128  # ids of other services (contacts, events) are opaque strings of at most this length


def _timestamps() -> list[Column]:
    return [Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
            Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now())]


campaigns = Table(
    "campaigns", metadata,
    Column("campaign_id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # draft | active | paused | archived
    Column("definition", JSONB, nullable=False),  # the latest saved definition
    Column("version", Integer),  # the version new enrollments enter with; None until first activation
    Column("entry_type", String(16), nullable=False),
    Column("event_type", String(64)),  # denormalised so an event finds its triggers by index
    *_timestamps(),
    Index("ix_campaigns_trigger", "status", "event_type"),
)

campaign_versions = Table(
    "campaign_versions", metadata,
    Column("campaign_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("definition", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("campaign_id", "version", name="pk_campaign_versions"),
)

templates = Table(
    "templates", metadata,
    Column("template_id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("subject", Text),
    Column("body", Text, nullable=False),
    Column("html", Text),
    *_timestamps(),
)

contacts = Table(
    "contacts", metadata,
    Column("contact_id", String(ID), primary_key=True),
    Column("external_id", String(255)),
    Column("email", String(320)),
    Column("phone", String(64)),
    Column("first_name", String(200)),
    Column("last_name", String(200)),
    Column("locale", String(35)),
    Column("time_zone", String(64)),
    Column("attributes", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

consents = Table(
    "consents", metadata,
    Column("contact_id", String(ID), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("contact_id", "channel", name="pk_consents"),
)

suppressions = Table(
    "suppressions", metadata,
    Column("suppression_id", String(ID), primary_key=True),
    Column("contact_id", String(ID), nullable=False, index=True),
    Column("scope", String(16), nullable=False),
    Column("value", String(200)),
    Column("reason", String(32), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("active", Boolean, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

contact_events = Table(
    "contact_events", metadata,
    Column("event_id", String(ID), primary_key=True),
    Column("contact_id", String(ID), nullable=False),
    Column("type", String(64), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("data", JSONB, nullable=False),
    Index("ix_contact_events_contact", "contact_id", "occurred_at"),
)

enrollments = Table(
    "enrollments", metadata,
    Column("enrollment_id", String(36), primary_key=True),
    Column("campaign_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("contact_id", String(ID), nullable=False),
    Column("occurrence", String(ID), nullable=False),  # trigger event id, or the broadcast's fire time
    Column("status", String(16), nullable=False),  # active | completed | converted | exited
    Column("current_step", String(128)),
    Column("waiting_until", DateTime(timezone=True)),
    Column("step_outcomes", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("variant", String(64)),
    Column("trigger_event", JSONB),
    Column("reason", String(300)),
    Column("enrolled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("ended_at", DateTime(timezone=True)),
    # One enrollment per trigger occurrence: a redelivered event or broadcast page enrolls once.
    UniqueConstraint("campaign_id", "contact_id", "occurrence", name="uq_enrollments_occurrence"),
    Index("ix_enrollments_contact", "contact_id", "status"),
    # At most one running enrollment per campaign and contact, whatever the re-entry policy.
    Index("uq_enrollments_active", "campaign_id", "contact_id", unique=True,
          postgresql_where=text("status = 'active'")),
)

step_sends = Table(
    "step_sends", metadata,
    Column("request_id", String(ID), primary_key=True),  # domain.message_key: the idempotency key
    Column("enrollment_id", String(36), nullable=False),
    Column("campaign_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("step_id", String(128), nullable=False),
    Column("contact_id", String(ID), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("variant", String(64)),
    Column("status", String(16), nullable=False),  # requested, then the furthest outcome reported
    Column("reason", String(300)),
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_step_sends_campaign", "campaign_id", "step_id"),
)

send_outcomes = Table(
    "send_outcomes", metadata,
    Column("request_id", String(ID), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("reason", String(300)),
    Column("rule_id", String(128)),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("request_id", "outcome", name="pk_send_outcomes"),
)

broadcast_runs = Table(
    "broadcast_runs", metadata,
    Column("campaign_id", String(36), nullable=False),
    Column("occurrence", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("segment_id", String(ID), nullable=False),
    Column("pages", Integer, nullable=False, server_default="0"),
    Column("enrolled", Integer, nullable=False, server_default="0"),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    PrimaryKeyConstraint("campaign_id", "occurrence", name="pk_broadcast_runs"),
)


def enrollment_from_row(row: Mapping[str, Any]) -> Enrollment:
    """The domain's Enrollment of an `enrollments` row."""
    return Enrollment(campaign_id=row["campaign_id"], version=row["version"], contact_id=row["contact_id"],
                      enrollment_id=row["enrollment_id"], occurrence=row["occurrence"], status=row["status"],
                      current_step=row["current_step"], waiting_until=row["waiting_until"],
                      step_outcomes=row["step_outcomes"] or {}, variant=row["variant"], reason=row["reason"],
                      ended_at=row["ended_at"], trigger_event=row["trigger_event"])


_SAVE = (
    update(enrollments).where(enrollments.c.enrollment_id == bindparam("b_id"))
    .values(status=bindparam("status"), current_step=bindparam("current_step"),
            waiting_until=bindparam("waiting_until"), variant=bindparam("variant"), reason=bindparam("reason"),
            ended_at=bindparam("ended_at"))
)


class EnrollmentStore:
    """The queries of the enrollment use cases (`handlers/enrollment.py`, `events.handle_step_due`), on one connection.

    Handlers reach it through `Engine.store`, so `tests/unit/campaigns/fakes.py` can stand in for it.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @classmethod
    def of(cls, uow: Any) -> EnrollmentStore:
        """The store of a unit of work (its connection)."""
        return cls(uow.conn)

    def lock_enrollment(self, enrollment_id: str) -> Enrollment | None:
        """The enrollment, locked for the rest of the transaction, or None."""
        row = self.conn.execute(select(enrollments).where(enrollments.c.enrollment_id == enrollment_id)
                                .with_for_update()).mappings().first()
        return enrollment_from_row(row) if row is not None else None

    def campaign_status(self, campaign_id: str) -> str | None:
        """draft | active | paused | archived, or None for an unknown campaign."""
        return self.conn.execute(select(campaigns.c.status).where(campaigns.c.campaign_id == campaign_id)).scalar()

    def definition(self, campaign_id: str, version: int) -> dict[str, Any] | None:
        """The raw definition of one campaign version, or None."""
        return self.conn.execute(select(campaign_versions.c.definition).where(
            campaign_versions.c.campaign_id == campaign_id, campaign_versions.c.version == version)).scalar()

    def contact(self, contact_id: str) -> Mapping[str, Any] | None:
        """The projected contact row, or None when contacts has not told us about it yet."""
        return self.conn.execute(select(contacts).where(contacts.c.contact_id == contact_id)).mappings().first()

    def contact_facts(self, contact_id: str, since: datetime, limit: int
                      ) -> tuple[dict[str, str], list[dict[str, Any]], list[dict[str, Any]]]:
        """Consent per channel, active suppressions, and the newest `limit` events since `since`."""
        consent_rows = self.conn.execute(select(consents.c.channel, consents.c.status)
                                         .where(consents.c.contact_id == contact_id)).all()
        suppression_rows = self.conn.execute(
            select(suppressions.c.scope, suppressions.c.value, suppressions.c.expires_at)
            .where(suppressions.c.contact_id == contact_id, suppressions.c.active.is_(True))).mappings().all()
        history_rows = self.conn.execute(
            select(contact_events.c.type, contact_events.c.occurred_at, contact_events.c.data)
            .where(contact_events.c.contact_id == contact_id, contact_events.c.occurred_at >= since)
            .order_by(contact_events.c.occurred_at.desc()).limit(limit)).mappings().all()
        return ({r.channel: r.status for r in consent_rows}, [dict(r) for r in suppression_rows],
                [dict(r) for r in history_rows])

    def template(self, template_id: str) -> dict[str, Any] | None:
        """{channel, subject, body, html} of a stored template, or None."""
        row = self.conn.execute(select(templates.c.channel, templates.c.subject, templates.c.body,
                                       templates.c.html).where(templates.c.template_id == template_id)
                                ).mappings().first()
        return dict(row) if row else None

    def save(self, updates: Sequence[Mapping[str, Any]]) -> None:
        """Update enrollments to where the engine left them (`Writes.save` rows), in one statement."""
        if updates:
            self.conn.execute(_SAVE, list(updates))

    def add_sends(self, rows: Sequence[Mapping[str, Any]], fresh: bool = False) -> set[str]:
        """Record sends; return the request ids that are new (a send already recorded is not new).

        `fresh=True` says the caller knows every row is new (enrollments it just created under a
        lock), which allows a plain bulk insert instead of insert-and-return.
        """
        if not rows:
            return set()
        if fresh:
            self.conn.execute(insert(step_sends), list(rows))
            return {row["request_id"] for row in rows}
        inserted = self.conn.execute(pg_insert(step_sends).on_conflict_do_nothing()
                                     .returning(step_sends.c.request_id), list(rows))
        return {row.request_id for row in inserted}
