"""Carrying out the engine's decisions: render and request sends, park on waits, end enrollments.

`plan` asks `domain.advance` what one enrollment does next and turns the actions into rows
and messages collected in `Writes`; `apply` writes a whole batch of them with bulk statements,
so one event and a page of a million-contact broadcast take the same path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.campaigns.domain.definition import Campaign
from services.campaigns.domain.durations import zone
from services.campaigns.domain.engine import (
    Complete,
    EnrollmentState,
    RecordSplit,
    ScheduleWake,
    SendMessage,
    advance,
)
from services.campaigns.domain.templates import TemplateError, render
from services.campaigns.repository import enrollments, step_sends, templates
from shared.messaging import UnitOfWork

MAX_ID = 128


def bounded_id(prefix: str, readable: str) -> str:
    """`prefix + readable`, or its sha256 when that exceeds the 128 characters contracts allow."""
    text = prefix + readable
    return text if len(text) <= MAX_ID else prefix + hashlib.sha256(readable.encode()).hexdigest()


def wake_entry_id(enrollment_id: str, step_id: str, occurrence: str) -> str:
    """The scheduler entry id of one wait: the scheduler deduplicates on it."""
    return bounded_id("wake:", f"{enrollment_id}:{step_id}:{occurrence}")


def safe_zone(name: str | None) -> str:
    """The contact's time zone when it is a real one, else UTC."""
    if not name:
        return "UTC"
    try:
        zone(name)
    except ValueError:
        return "UTC"
    return name


class TemplateLookup:
    """Stored templates by id, read once per unit of work."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._cache: dict[str, dict[str, Any] | None] = {}

    def get(self, template_id: str) -> dict[str, Any] | None:
        """{channel, subject, body, html} of a stored template, or None."""
        if template_id not in self._cache:
            row = self.conn.execute(select(templates.c.channel, templates.c.subject, templates.c.body,
                                           templates.c.html).where(templates.c.template_id == template_id)
                                    ).mappings().first()
            self._cache[template_id] = dict(row) if row else None
        return self._cache[template_id]

    def parts(self, ref: str | Mapping[str, Any]) -> Mapping[str, Any]:
        """The {subject, body, html} a send step refers to; raise TemplateError if it is gone."""
        if not isinstance(ref, str):
            return ref
        stored = self.get(ref)
        if stored is None:
            raise TemplateError(f"template {ref!r} does not exist")
        return {k: stored[k] for k in ("subject", "body", "html") if stored[k] is not None}


@dataclass
class Writes:
    """Rows and messages decided for a batch of enrollments, written together by `apply`."""

    sends: list[dict[str, Any]] = field(default_factory=list)
    requests: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)  # request_id -> (payload, key)
    updates: list[dict[str, Any]] = field(default_factory=list)
    messages: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)


@dataclass(frozen=True)
class Enrollment:
    """The state of one enrollment as stored."""

    enrollment_id: str
    campaign_id: str
    version: int
    contact_id: str
    occurrence: str
    current_step: str | None = None
    waiting_until: datetime | None = None
    step_outcomes: Mapping[str, str] = field(default_factory=dict)
    variant: str | None = None
    trigger_event: Mapping[str, Any] | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Enrollment:
        """From an `enrollments` row."""
        return cls(row["enrollment_id"], row["campaign_id"], row["version"], row["contact_id"], row["occurrence"],
                   row["current_step"], row["waiting_until"], row["step_outcomes"] or {}, row["variant"],
                   row["trigger_event"])


def plan(campaign: Campaign, enrollment: Enrollment, contact: Mapping[str, Any], ctx: Any, now: datetime,
         lookup: TemplateLookup, writes: Writes) -> None:
    """Advance one enrollment and add what it does to `writes`."""
    state = EnrollmentState(
        campaign_id=enrollment.campaign_id, version=enrollment.version, contact_id=enrollment.contact_id,
        current_step=enrollment.current_step, waiting_until=enrollment.waiting_until,
        step_outcomes=enrollment.step_outcomes, occurrence=enrollment.occurrence,
        timezone=safe_zone(contact.get("time_zone")),
    )
    actions = advance(campaign, state, ctx, now)
    if not actions:
        return
    change: dict[str, Any] = {"b_id": enrollment.enrollment_id, "status": "active",
                              "current_step": enrollment.current_step, "waiting_until": None,
                              "variant": enrollment.variant, "reason": None, "ended_at": None}
    for action in actions:
        if isinstance(action, SendMessage):
            _send(action, enrollment, change["variant"], contact, lookup, writes)
        elif isinstance(action, RecordSplit):
            change["variant"] = action.variant
        elif isinstance(action, ScheduleWake):
            change.update(current_step=action.step_id, waiting_until=action.due_at)
            writes.messages.append(("schedule.requested", {
                "entry_id": wake_entry_id(enrollment.enrollment_id, action.step_id, enrollment.occurrence),
                "due_at": action.due_at.isoformat(), "message_type": "step.due",
                "key": enrollment.contact_id, "owner": enrollment.campaign_id,
                "payload": {"enrollment_id": enrollment.enrollment_id, "step_id": action.step_id,
                            "campaign_id": enrollment.campaign_id, "occurrence": enrollment.occurrence},
            }, enrollment.contact_id))
        elif isinstance(action, Complete):
            change.update(status=action.outcome, reason=action.reason or None, ended_at=now, current_step=None)
    writes.updates.append(change)


def _send(action: SendMessage, enrollment: Enrollment, variant: str | None, contact: Mapping[str, Any],
          lookup: TemplateLookup, writes: Writes) -> None:
    row = {"request_id": action.key, "enrollment_id": enrollment.enrollment_id,
           "campaign_id": enrollment.campaign_id, "version": enrollment.version, "step_id": action.step_id,
           "contact_id": enrollment.contact_id, "channel": action.channel, "variant": variant,
           "status": "requested", "reason": None}
    try:
        rendered = render(lookup.parts(action.template), {"contact": contact, "event": enrollment.trigger_event})
    except TemplateError as exc:
        # Recorded, not retried: the same template fails the same way for this contact.
        writes.sends.append({**row, "status": "failed", "reason": f"template: {exc}"[:300]})
        return
    writes.sends.append(row)
    writes.requests[action.key] = ({
        "request_id": action.key, "contact_id": enrollment.contact_id, "channel": action.channel,
        "category": action.category, "campaign_id": enrollment.campaign_id,
        "campaign_version": enrollment.version, "step_id": action.step_id, "occurrence": str(action.occurrence),
        "topic": action.topic, "priority": action.priority,
        "expires_at": action.expires_at.isoformat() if action.expires_at else None,
        "content": {"subject": rendered.subject, "body": rendered.body, "html": rendered.html},
        "recipient": {k: contact.get(k) for k in ("email", "phone", "first_name", "last_name", "time_zone")},
    }, enrollment.contact_id)


_UPDATE = (
    update(enrollments).where(enrollments.c.enrollment_id == bindparam("b_id"))
    .values(status=bindparam("status"), current_step=bindparam("current_step"),
            waiting_until=bindparam("waiting_until"), variant=bindparam("variant"), reason=bindparam("reason"),
            ended_at=bindparam("ended_at"))
)


def apply(uow: UnitOfWork, writes: Writes, fresh: bool = False) -> int:
    """Write a batch of decisions; a send already requested (same key) is not requested again.

    `fresh=True` says the caller knows every send is new (enrollments it just created under a
    lock), which allows a plain bulk insert instead of insert-and-return.
    """
    if writes.updates:
        uow.conn.execute(_UPDATE, writes.updates)
    new: set[str] = set()
    if writes.sends and fresh:
        uow.conn.execute(insert(step_sends), writes.sends)
        new = set(writes.requests)
    elif writes.sends:
        inserted = uow.conn.execute(pg_insert(step_sends).on_conflict_do_nothing().returning(step_sends.c.request_id),
                                    writes.sends)
        new = {row.request_id for row in inserted}
    published = 0
    for request_id, (payload, key) in writes.requests.items():
        if request_id in new:
            uow.publish("message.requested", payload, key=key)
            published += 1
    for message_type, payload, key in writes.messages:
        uow.publish(message_type, payload, key=key)
    uow.flush()
    return published
