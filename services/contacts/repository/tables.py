"""Tables of the contacts database (SQLAlchemy Core); the migrations create them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.messaging import MessagingTables

metadata = MetaData()
TABLES = MessagingTables(metadata)


def _now_column(name: str) -> Column:
    return Column(name, DateTime(timezone=True), nullable=False, server_default=func.now())


contacts = Table(
    "contacts", metadata,
    Column("id", String(36), primary_key=True),
    Column("external_id", String(128)),
    Column("email", String(320)),
    Column("phone", String(32)),
    Column("first_name", String(200)),
    Column("last_name", String(200)),
    Column("locale", String(35)),
    Column("time_zone", String(64)),
    Column("attributes", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    _now_column("created_at"),
    _now_column("updated_at"),
    Column("erased_at", DateTime(timezone=True)),
    Column("merged_into", String(36)),  # a tombstone: folded into this contact by a merge
    Index("uq_contacts_external_id", "external_id", unique=True, postgresql_where=text("external_id IS NOT NULL")),
    Index("ix_contacts_email", "email", postgresql_where=text("email IS NOT NULL")),
    Index("ix_contacts_phone", "phone", postgresql_where=text("phone IS NOT NULL")),
    Index("ix_contacts_attributes", "attributes", postgresql_using="gin"),
    # One person, one profile: at most one live contact per normalised email and per E.164 phone.
    Index("uq_contacts_email_live", "email", unique=True,
          postgresql_where=text("email IS NOT NULL AND erased_at IS NULL AND merged_into IS NULL")),
    Index("uq_contacts_phone_live", "phone", unique=True,
          postgresql_where=text("phone IS NOT NULL AND erased_at IS NULL AND merged_into IS NULL")),
    Index("ix_contacts_merged_into", "merged_into", postgresql_where=text("merged_into IS NOT NULL")),
)
# Neither erased nor merged into another contact: the contacts segments, lists and imports see.
LIVE = contacts.c.erased_at.is_(None) & contacts.c.merged_into.is_(None)

_contact_fk = {"ondelete": "CASCADE"}

consents = Table(
    "consents", metadata,
    Column("contact_id", String(36), ForeignKey("contacts.id", **_contact_fk), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("source", String(200)),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("contact_id", "channel", name="pk_consents"),
)

consent_history = Table(
    "consent_history", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("contact_id", String(36), ForeignKey("contacts.id", **_contact_fk), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("source", String(200)),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Index("ix_consent_history_contact", "contact_id", "id"),
)

# A lifted suppression gets expires_at = lifted_at, so every "active" check (ours and the filter
# language's resolver) only has to look at expires_at.
suppressions = Table(
    "suppressions", metadata,
    Column("id", String(36), primary_key=True),
    Column("contact_id", String(36), ForeignKey("contacts.id", **_contact_fk), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("value", String(64)),
    Column("reason", String(32), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("source", String(200)),
    Column("source_ref", String(128)),  # the interaction id that asked for it: idempotency
    _now_column("created_at"),
    Column("lifted_at", DateTime(timezone=True)),
    Index("ix_suppressions_contact", "contact_id", "scope", "value"),
    Index("uq_suppressions_source_ref", "source_ref", unique=True, postgresql_where=text("source_ref IS NOT NULL")),
)

events = Table(
    "events", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", String(128), nullable=False, unique=True),
    Column("contact_id", String(36), ForeignKey("contacts.id", **_contact_fk), nullable=False),
    Column("type", String(64), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("source", String(32), nullable=False),
    _now_column("received_at"),
    Index("ix_events_contact_type_time", "contact_id", "type", "occurred_at"),
)

# Everything that happened to a contact, newest first: events, consent changes, suppressions,
# message decisions and outcomes. One table so the timeline pages on one index.
timeline = Table(
    "timeline", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("contact_id", String(36), ForeignKey("contacts.id", **_contact_fk), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("type", String(64), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("ref", String(128)),
    Column("data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Index("ix_timeline_contact_time", "contact_id", "occurred_at", "id"),
)

segments = Table(
    "segments", metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("description", Text),
    Column("definition", Text, nullable=False),
    _now_column("created_at"),
    _now_column("updated_at"),
)

import_jobs = Table(
    "import_jobs", metadata,
    Column("id", String(36), primary_key=True),
    Column("status", String(16), nullable=False),  # queued, running, done, failed
    Column("format", String(8), nullable=False),
    Column("file_path", Text, nullable=False),
    Column("phone_region", String(2)),
    Column("bytes", BigInteger, nullable=False),
    Column("bytes_processed", BigInteger, nullable=False, server_default="0"),
    Column("rows_processed", Integer, nullable=False, server_default="0"),
    Column("created", Integer, nullable=False, server_default="0"),
    Column("updated", Integer, nullable=False, server_default="0"),
    Column("rejected", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    _now_column("created_at"),
    Column("started_at", DateTime(timezone=True)),
    Column("heartbeat_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Index("ix_import_jobs_status", "status", "created_at"),
)

import_rejections = Table(
    "import_rejections", metadata,
    Column("job_id", String(36), ForeignKey("import_jobs.id", ondelete="CASCADE"), nullable=False),
    Column("row_number", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    PrimaryKeyConstraint("job_id", "row_number", name="pk_import_rejections"),
)

# The preference center's topic catalogue: the topics campaigns name, with a label per language
# (`{"en": "Mortgages", "de": "Hypotheken"}`), managed through /topics.
topics = Table(
    "topics", metadata,
    Column("key", String(64), primary_key=True),
    Column("labels", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    _now_column("created_at"),
    _now_column("updated_at"),
)
