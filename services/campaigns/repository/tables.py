"""Tables of the campaigns database (SQLAlchemy Core); the queries are in the sibling modules.

Definitions (`campaigns`, `campaign_versions`, `templates`), the local projections of contact
facts that conditions and templates read (`contacts`, `consents`, `suppressions`,
`contact_events`), and the enrollment state with its measurements (`enrollments`,
`step_sends`, `send_outcomes`, `broadcast_runs`).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

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
    # Approval (domain/approval.py): every change of the definition is a new revision; an approval holds
    # for the revision it names. `approval_required` stays true once a definition asked for it.
    Column("revision", Integer, nullable=False, server_default=text("1")),
    Column("changed_by", String(64)),  # the API key id of the last change
    Column("approval_required", Boolean, nullable=False, server_default=text("false")),
    Column("approved_revision", Integer),
    Column("approved_by", String(64)),
    Column("approved_by_name", String(200)),
    Column("approved_at", DateTime(timezone=True)),
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
