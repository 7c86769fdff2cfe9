"""Tables of the channels database (SQLAlchemy Core); the queries are in the sibling repository modules.

- `policy_rules`: the operator-managed rules of the gate (one JSON document, versioned).
- `contact_policy`: one row per contact, the lock every decision about the contact takes, and the
  copy of the contact's reachability (time zone, address, names) kept from `contact.upserted`.
- `suppressions`, `consents`: copies of the contacts service's facts, plus local ones (bounces, STOP).
- `decisions`: every decision of the gate with reason and rule; `touches`: the ledger caps count;
  `deliveries`: send jobs the delivery workers take, with retries and dead letters.
- `call_tasks`, `offers`: the call-center queue and the web offers that the internal adapters fill.
- `planned_sends`: messages planned for a contact and not sent yet (drip steps campaigns announced,
  requests the gate deferred), which the look-ahead rule holds cap slots for (repository/planned.py).
- `capacity_counters`: units taken per (capacity rule, window start); `capacity_claims`: which touch took
  which unit, so releasing the touch gives it back (repository/capacity.py).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
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

policy_rules = Table(
    "policy_rules", metadata,
    Column("id", Integer, primary_key=True),
    Column("document", JSONB, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

contact_policy = Table(
    "contact_policy", metadata,
    Column("contact_id", String(128), primary_key=True),
    Column("time_zone", String(64)),
    Column("email", String(320)),
    Column("phone", String(32)),
    Column("first_name", String(200)),
    Column("last_name", String(200)),
    Column("locale", String(35)),
    Column("erased", Boolean, nullable=False, server_default=text("false")),
    Column("profile_updated_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_contact_policy_email", "email"),
    Index("ix_contact_policy_phone", "phone"),
)

suppressions = Table(
    "suppressions", metadata,
    Column("contact_id", String(128), nullable=False),
    Column("suppression_id", String(128), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("value", String(128)),
    Column("reason", String(32), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("active", Boolean, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("contact_id", "suppression_id", name="pk_suppressions"),
)

consents = Table(
    "consents", metadata,
    Column("contact_id", String(128), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("contact_id", "channel", name="pk_consents"),
)

decisions = Table(
    "decisions", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("request_id", String(128), nullable=False),
    Column("attempt", Integer, nullable=False),  # the request's `deferrals` when it was decided
    Column("contact_id", String(128), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("category", String(16), nullable=False),
    Column("campaign_id", String(128)),
    Column("step_id", String(128)),
    Column("occurrence", String(128)),
    Column("outcome", String(16), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("rule_id", String(128)),
    Column("detail", Text, nullable=False, server_default=""),
    Column("defer_until", DateTime(timezone=True)),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("yielded_to", String(160)),  # the plan a look-ahead cap decision gave way to
    UniqueConstraint("request_id", "attempt", name="uq_decisions_request_attempt"),
    # A request gets at most one final decision, however often it is delivered.
    Index("uq_decisions_final", "request_id", unique=True, postgresql_where=text("outcome <> 'deferred'")),
    Index("ix_decisions_contact", "contact_id", "decided_at"),
    Index("ix_decisions_campaign", "campaign_id", "decided_at"),
)

touches = Table(
    "touches", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("request_id", String(128), nullable=False, unique=True),
    Column("contact_id", String(128), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("category", String(16), nullable=False),
    Column("campaign_id", String(128)),
    Column("step_id", String(128)),
    Column("occurrence", String(128)),
    Column("topic", String(128)),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("state", String(16), nullable=False),  # reserved, sent, failed, cancelled
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_touches_contact_at", "contact_id", "at"),
    # Invariant 3: one (campaign, step, contact, occurrence) holds at most one live touch.
    Index("uq_touches_step_occurrence", "campaign_id", "step_id", "contact_id",
          text("coalesce(occurrence, '')"), unique=True,
          postgresql_where=text("campaign_id IS NOT NULL AND step_id IS NOT NULL AND state IN ('reserved', 'sent')")),
)

deliveries = Table(
    "deliveries", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("request_id", String(128), nullable=False, unique=True),
    Column("touch_id", BigInteger, nullable=False),
    Column("contact_id", String(128), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("category", String(16), nullable=False),
    Column("state", String(16), nullable=False),  # pending, sending, sent, failed, dead, cancelled
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True)),
    Column("provider_id", String(200)),
    Column("detail", Text),
    Column("request", JSONB),  # the original request (content, recipient); nulled on erasure
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_deliveries_due", "channel", "state", "next_attempt_at"),
    Index("ix_deliveries_provider", "provider_id"),
    Index("ix_deliveries_contact", "contact_id"),
)

call_tasks = Table(
    "call_tasks", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("request_id", String(128), nullable=False, unique=True),
    Column("contact_id", String(128), nullable=False),
    Column("campaign_id", String(128)),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("status", String(16), nullable=False),  # open, claimed, completed, expired
    Column("script", JSONB),
    Column("claimed_by", String(64)),
    Column("claimed_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("outcome", String(64)),
    Column("notes", Text),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_call_tasks_queue", "status", "priority", "created_at"),
)

offers = Table(
    "offers", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("request_id", String(128), nullable=False, unique=True),
    Column("contact_id", String(128), nullable=False),
    Column("campaign_id", String(128)),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("status", String(16), nullable=False),  # active, accepted, dismissed
    Column("content", JSONB),
    Column("expires_at", DateTime(timezone=True)),
    Column("responded_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_offers_contact", "contact_id", "status"),
)

capacity_counters = Table(
    "capacity_counters", metadata,
    Column("rule_id", String(64), nullable=False),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("used", Integer, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("rule_id", "window_start", name="pk_capacity_counters"),
    CheckConstraint("used >= 0", name="ck_capacity_counters_used"),
)

capacity_claims = Table(
    "capacity_claims", metadata,
    Column("touch_id", BigInteger, nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("window_start", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("touch_id", "rule_id", name="pk_capacity_claims"),
)

planned_sends = Table(
    "planned_sends", metadata,
    Column("plan_id", String(160), primary_key=True),
    Column("contact_id", String(128), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("category", String(16), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("campaign_id", String(128)),
    Column("step_id", String(128)),
    Column("occurrence", String(128)),
    Column("request_id", String(128)),
    Column("live", Boolean, nullable=False),  # false: sent, cancelled or deferred again under a new due time
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Index("ix_planned_sends_contact", "contact_id", "due_at", postgresql_where=text("live")),
    Index("ix_planned_sends_campaign", "campaign_id", postgresql_where=text("live")),
    Index("ix_planned_sends_due", "due_at"),
)
