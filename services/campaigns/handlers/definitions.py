"""Campaign definitions and their lifecycle: draft -> active -> paused -> archived, versioned once active.

Every save is checked for shape (schemas.py) and meaning (domain.validate_definition, plus that
stored templates exist for the step's channel). A campaign that has been activated is versioned:
each later edit writes a new `campaign_versions` row; new enrollments enter with the newest
version and running ones keep theirs.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.campaigns.domain.approval import (
    approval_refusal,
    change_refusal,
    run_refusal,
    state_of,
    still_required,
)
from services.campaigns.domain.steps import REGISTRY
from services.campaigns.domain.validation import validate_definition
from services.campaigns.handlers.broadcasts import schedule_id
from services.campaigns.handlers.context import CampaignCatalog
from services.campaigns.handlers.enrollment import planned_send, wake_entry_id
from services.campaigns.unit_of_work import CampaignsUnitOfWork
from shared.errors import Conflict, Invalid, NotFound

# action -> (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "activate": (frozenset({"draft"}), "active"),
    "pause": (frozenset({"active"}), "paused"),
    "resume": (frozenset({"paused"}), "active"),
    "archive": (frozenset({"draft", "active", "paused"}), "archived"),
}
RESCHEDULE_BATCH = 1000


def check_definition(uow: CampaignsUnitOfWork, raw: Mapping[str, Any], known_channels: set[str]) -> None:
    """Raise a 422 problem naming every meaning error by its path (e.g. `steps[2].next`)."""
    errors: dict[str, list[str]] = {}
    for error in validate_definition(raw, known_channels):
        errors.setdefault(error.path or "_schema", []).append(error.message)
    for index, step in enumerate(raw.get("steps", [])):
        kind = REGISTRY.get(step.get("type"))
        if kind is not None and kind.sends and isinstance(step.get("template"), str):
            channel = uow.templates.channel(step["template"])
            if channel is None:
                errors.setdefault(f"steps[{index}].template", []).append(f"no template {step['template']!r}")
            elif channel != step.get("channel"):
                errors.setdefault(f"steps[{index}].template", []).append(
                    f"template {step['template']!r} is for channel {channel!r}, not {step.get('channel')!r}")
    if errors:
        raise Invalid(f"invalid: {', '.join(errors)}", errors, title="Invalid campaign definition")


def _row(uow: CampaignsUnitOfWork, campaign_id: str, lock: bool = False) -> dict[str, Any]:
    row = uow.campaigns.get(campaign_id, lock=lock)
    if row is None:
        raise NotFound(f"no campaign {campaign_id}")
    return row


def get_campaign(uow: CampaignsUnitOfWork, campaign_id: str) -> dict[str, Any]:
    """A campaign with the list of its versions and its approval."""
    row = _with_approval(_row(uow, campaign_id))
    row["versions"] = uow.campaigns.versions(campaign_id)
    return row


def _with_approval(row: dict[str, Any]) -> dict[str, Any]:
    """The row with `requires_approval` and `approval` (who approved which revision when, and whether it holds)."""
    row["requires_approval"] = bool(row.get("approval_required"))
    row["approval"] = None if row.get("approved_revision") is None else {
        "revision": row["approved_revision"], "approved_by": row.get("approved_by"),
        "approved_by_name": row.get("approved_by_name"), "approved_at": row.get("approved_at"),
        "current": state_of(row).current}
    return row


def list_campaigns(uow: CampaignsUnitOfWork, status: str | None, after: str | None, limit: int
                   ) -> list[dict[str, Any]]:
    """Campaigns in id order, optionally of one status, after a cursor."""
    return [_with_approval(row) for row in uow.campaigns.page(status, after, limit)]


def _entry_columns(raw: Mapping[str, Any]) -> dict[str, Any]:
    entry = raw["entry"]
    return {"entry_type": entry["type"], "event_type": entry.get("event_type") if entry["type"] == "event" else None}


def create_campaign(uow: CampaignsUnitOfWork, raw: Mapping[str, Any], known_channels: set[str],
                    actor: str | None = None) -> dict[str, Any]:
    """Save a new draft (revision 1, changed by the API key id `actor`)."""
    check_definition(uow, raw, known_channels)
    campaign_id = str(uuid.uuid4())
    uow.campaigns.add(campaign_id, {"name": raw["name"], "status": "draft", "definition": dict(raw),
                                    **_entry_columns(raw), "revision": 1, "changed_by": actor,
                                    "approval_required": still_required(False, raw)})
    return get_campaign(uow, campaign_id)


def update_campaign(uow: CampaignsUnitOfWork, campaign_id: str, raw: Mapping[str, Any],
                    known_channels: set[str], actor: str | None = None) -> dict[str, Any]:
    """Replace the definition; once versioned, this writes a new version. A real change is a new revision by the
    API key id `actor`, which voids an approval (domain/approval.py)."""
    row = _row(uow, campaign_id, lock=True)
    if row["status"] == "archived":
        raise Conflict("an archived campaign cannot be changed")
    refused = change_refusal(state_of(row), row["status"])
    if refused:
        raise Conflict(refused, {"approval": [refused]})
    check_definition(uow, raw, known_channels)
    values: dict[str, Any] = {"name": raw["name"], "definition": dict(raw), **_entry_columns(raw)}
    if dict(raw) != row["definition"]:
        values.update(revision=(row.get("revision") or 1) + 1, changed_by=actor,
                      approval_required=still_required(bool(row.get("approval_required")), raw))
    if row["version"] is not None:
        values["version"] = _new_version(uow, campaign_id, raw)
    uow.campaigns.change(campaign_id, values)
    if row["status"] == "active":
        _publish_schedule(uow, campaign_id, raw, previous=row["definition"])
    return get_campaign(uow, campaign_id)


def delete_campaign(uow: CampaignsUnitOfWork, campaign_id: str) -> None:
    """Delete a draft that never ran; anything else is archived instead."""
    row = _row(uow, campaign_id, lock=True)
    if row["status"] != "draft" or row["version"] is not None:
        raise Conflict("only a draft that never ran can be deleted; archive it")
    uow.campaigns.delete(campaign_id)


def transition(uow: CampaignsUnitOfWork, campaign_id: str, action: str, known_channels: set[str],
               now: datetime) -> dict[str, Any]:
    """Move a campaign along its lifecycle at `now` and tell the scheduler what changed."""
    row = _row(uow, campaign_id, lock=True)
    sources, target = TRANSITIONS[action]
    if row["status"] not in sources:
        raise Conflict(f"cannot {action} a campaign that is {row['status']}")
    refused = run_refusal(state_of(row)) if target == "active" else None
    if refused:
        raise Conflict(refused, {"approval": [refused]})
    values: dict[str, Any] = {"status": target}
    definition = row["definition"]
    if action == "activate":
        check_definition(uow, definition, known_channels)  # templates may have changed since the save
        values["version"] = _new_version(uow, campaign_id, definition)
    uow.campaigns.change(campaign_id, values)
    if target == "active":
        _publish_schedule(uow, campaign_id, definition)
        if action == "resume":
            _reschedule_waits(uow, campaign_id, now, CampaignCatalog(known_channels))
    else:
        _stop_schedules(uow, campaign_id, definition, now)
        if target == "archived":
            uow.enrollments.exit_campaign(campaign_id, "campaign archived", now)
    return get_campaign(uow, campaign_id)


def approve_campaign(uow: CampaignsUnitOfWork, campaign_id: str, approver_id: str, approver_name: str,
                     reviewed: int | None, now: datetime) -> dict[str, Any]:
    """Record that the API key `approver_id` approves the campaign's current revision (`reviewed`, when given,
    must be it); 409 when the approver made the last change or the campaign moved on or is archived."""
    row = _row(uow, campaign_id, lock=True)
    if row["status"] == "archived":
        raise Conflict("an archived campaign cannot be approved")
    refused = approval_refusal(state_of(row), approver_id, reviewed)
    if refused:
        raise Conflict(refused, {"approval": [refused]})
    uow.campaigns.change(campaign_id, {"approved_revision": row["revision"], "approved_by": approver_id,
                                       "approved_by_name": approver_name, "approved_at": now})
    return get_campaign(uow, campaign_id)


def _new_version(uow: CampaignsUnitOfWork, campaign_id: str, raw: Mapping[str, Any]) -> int:
    latest = uow.campaigns.latest_version(campaign_id)
    if latest and uow.campaigns.definition(campaign_id, latest) == dict(raw):
        return latest  # re-activating an unchanged definition is not a new version
    uow.campaigns.add_version(campaign_id, latest + 1, raw)
    return latest + 1


def _publish_schedule(uow: CampaignsUnitOfWork, campaign_id: str, raw: Mapping[str, Any],
                      previous: Mapping[str, Any] | None = None) -> None:
    entry = raw["entry"]
    if entry["type"] != "segment":
        if previous is not None and previous.get("entry", {}).get("type") == "segment":
            uow.publish("schedule.recurring.removed", {"schedule_id": schedule_id(campaign_id)}, key=campaign_id)
        return
    schedule = entry["schedule"]
    payload: dict[str, Any] = {"schedule_id": schedule_id(campaign_id), "owner": campaign_id,
                               "timezone": schedule.get("timezone", "UTC"), "message_type": "broadcast.due",
                               "payload": {"campaign_id": campaign_id}}
    if "at" in schedule:
        payload["at"] = schedule["at"]
    else:
        payload["cron"] = schedule["cron"]
    uow.publish("schedule.recurring.upserted", payload, key=campaign_id)


def _stop_schedules(uow: CampaignsUnitOfWork, campaign_id: str, raw: Mapping[str, Any], now: datetime) -> None:
    if raw["entry"]["type"] == "segment":
        uow.publish("schedule.recurring.removed", {"schedule_id": schedule_id(campaign_id)}, key=campaign_id)
    # Pending wakes are dropped; enrollments stay parked, and resume asks for their wakes again. Their
    # planned sends are withdrawn from the gate's look-ahead the same way, and announced again on resume.
    uow.publish("schedule.cancelled", {"owner": campaign_id}, key=campaign_id)
    uow.publish("send.plan_cancelled", {"campaign_id": campaign_id, "cancelled_at": now.isoformat()},
                key=campaign_id)


def _reschedule_waits(uow: CampaignsUnitOfWork, campaign_id: str, now: datetime, catalog: CampaignCatalog) -> None:
    after = ""
    while True:  # keyset batches: at most one batch of enrollments and messages in memory
        parked = uow.enrollments.parked_of_campaign(campaign_id, after, RESCHEDULE_BATCH)
        for row in parked:
            uow.publish("schedule.requested", {
                "entry_id": wake_entry_id(row.enrollment_id, row.current_step, row.occurrence),
                "due_at": max(row.waiting_until, now).isoformat(), "message_type": "step.due",
                "key": row.contact_id, "owner": campaign_id,
                "payload": {"enrollment_id": row.enrollment_id, "step_id": row.current_step,
                            "campaign_id": campaign_id, "occurrence": row.occurrence}}, key=row.contact_id)
            campaign = catalog.get(uow.campaigns, campaign_id, row.version)
            planned = campaign and planned_send(campaign, campaign_id, row.enrollment_id, row.contact_id,
                                                row.current_step, row.occurrence, max(row.waiting_until, now), now)
            if planned:
                uow.publish("send.planned", planned, key=row.contact_id)
        uow.flush()
        if len(parked) < RESCHEDULE_BATCH:
            return
        after = parked[-1].enrollment_id
