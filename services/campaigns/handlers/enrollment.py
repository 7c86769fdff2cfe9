"""Carrying out the engine's decisions: render and request sends, park on waits, end enrollments.

`plan` asks `domain.advance` what one enrollment does next, adds the sends and wake-ups that
follow to `Writes`, and returns the enrollment as it then stands; the caller saves it (an update
with `Writes.save`, or the insert of a new broadcast enrollment). `apply` writes a whole batch
with bulk statements, so one event and a page of a million-contact broadcast take the same path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from services.campaigns.domain.definition import Campaign
from services.campaigns.domain.durations import zone
from services.campaigns.domain.engine import RecordSplit, ScheduleWake, SendMessage, advance, send_after_wait
from services.campaigns.domain.enrollment import Enrollment, settle
from services.campaigns.domain.templates import TemplateError, render

if TYPE_CHECKING:
    from services.campaigns.repository import TemplateStore
    from services.campaigns.unit_of_work import CampaignsUnitOfWork

MAX_ID = 128


def bounded_id(prefix: str, readable: str) -> str:
    """`prefix + readable`, or its sha256 when that exceeds the 128 characters contracts allow."""
    text = prefix + readable
    return text if len(text) <= MAX_ID else prefix + hashlib.sha256(readable.encode()).hexdigest()


def wake_entry_id(enrollment_id: str, step_id: str, occurrence: str) -> str:
    """The scheduler entry id of one wait: the scheduler deduplicates on it."""
    return bounded_id("wake:", f"{enrollment_id}:{step_id}:{occurrence}")


def plan_id(enrollment_id: str, send_step_id: str, occurrence: str) -> str:
    """The id of the send an enrollment parked on a wait is planned to make (`send.planned`)."""
    return bounded_id("plan:", f"{enrollment_id}:{send_step_id}:{occurrence}")


def planned_send(campaign: Campaign, campaign_id: str, enrollment_id: str, contact_id: str,
                 wait_step_id: str | None, occurrence: int | str, due_at: datetime,
                 now: datetime) -> dict[str, Any] | None:
    """The `send.planned` payload of an enrollment parked on `wait_step_id` until `due_at`, when the step
    after the wait is a send (the gate holds cap slots for it: docs/channels.md, "Look-ahead"); else None."""
    step = send_after_wait(campaign, wait_step_id)
    if step is None:
        return None
    return {"plan_id": plan_id(enrollment_id, step.id, str(occurrence)), "contact_id": contact_id,
            "channel": step.channel, "category": campaign.category,
            "priority": step.priority if step.priority is not None else campaign.priority,
            "due_at": due_at.isoformat(), "campaign_id": campaign_id, "step_id": step.id,
            "occurrence": str(occurrence), "planned_at": now.isoformat()}


def plan_cancelled(campaign: Campaign | None, enrollment_id: str, wait_step_id: str | None, occurrence: int | str,
                   now: datetime) -> dict[str, Any] | None:
    """The `send.plan_cancelled` payload for an enrollment that leaves wait `wait_step_id` without waking."""
    step = send_after_wait(campaign, wait_step_id) if campaign is not None else None
    if step is None:
        return None
    return {"plan_id": plan_id(enrollment_id, step.id, str(occurrence)), "cancelled_at": now.isoformat()}


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

    def __init__(self, store: TemplateStore) -> None:
        self.store = store
        self._cache: dict[str, dict[str, Any] | None] = {}

    def get(self, template_id: str) -> dict[str, Any] | None:
        """{channel, subject, body, html} of a stored template, or None."""
        if template_id not in self._cache:
            self._cache[template_id] = self.store.content(template_id)
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

    def save(self, enrollment: Enrollment) -> None:
        """Update a stored enrollment to where `plan` left it."""
        self.updates.append({"b_id": enrollment.enrollment_id, "status": enrollment.status,
                             "current_step": enrollment.current_step, "waiting_until": enrollment.waiting_until,
                             "variant": enrollment.variant, "reason": enrollment.reason,
                             "ended_at": enrollment.ended_at})


def plan(campaign: Campaign, enrollment: Enrollment, contact: Mapping[str, Any], ctx: Any, now: datetime,
         lookup: TemplateLookup, writes: Writes) -> Enrollment | None:
    """Advance one enrollment, add its sends and wake-ups to `writes`, return it as it now stands.

    None means there is nothing to do yet (a wait not over). Saving the enrollment is the
    caller's: `writes.save(...)` for a stored one, an insert for one enrolled in bulk.
    """
    enrollment = replace(enrollment, timezone=safe_zone(contact.get("time_zone")))
    actions = advance(campaign, enrollment, ctx, now)
    if not actions:
        return None
    variant = enrollment.variant  # a send records the variant assigned before it in this walk
    for action in actions:
        if isinstance(action, SendMessage):
            _send(action, enrollment, variant, contact, lookup, writes)
        elif isinstance(action, RecordSplit):
            variant = action.variant
        elif isinstance(action, ScheduleWake):
            writes.messages.append(("schedule.requested", {
                "entry_id": wake_entry_id(enrollment.enrollment_id, action.step_id, str(enrollment.occurrence)),
                "due_at": action.due_at.isoformat(), "message_type": "step.due",
                "key": enrollment.contact_id, "owner": enrollment.campaign_id,
                "payload": {"enrollment_id": enrollment.enrollment_id, "step_id": action.step_id,
                            "campaign_id": enrollment.campaign_id, "occurrence": enrollment.occurrence},
            }, enrollment.contact_id))
            planned = planned_send(campaign, enrollment.campaign_id, enrollment.enrollment_id, enrollment.contact_id,
                                   action.step_id, enrollment.occurrence, action.due_at, now)
            if planned is not None:
                writes.messages.append(("send.planned", planned, enrollment.contact_id))
    return settle(enrollment, actions, now)


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
        "recipient": {k: contact.get(k) for k in ("email", "phone", "first_name", "last_name", "locale", "time_zone")},
    }, enrollment.contact_id)


def apply(uow: CampaignsUnitOfWork, writes: Writes, fresh: bool = False) -> int:
    """Write a batch of decisions; a send already requested (same key) is not requested again.

    `fresh=True` says the caller knows every send is new (enrollments it just created under a
    lock), which allows a plain bulk insert instead of insert-and-return.
    """
    uow.enrollments.save(writes.updates)
    new = uow.sends.add(writes.sends, fresh)
    published = 0
    for request_id, (payload, key) in writes.requests.items():
        if request_id in new:
            uow.publish("message.requested", payload, key=key)
            published += 1
    for message_type, payload, key in writes.messages:
        uow.publish(message_type, payload, key=key)
    uow.flush()
    return published
