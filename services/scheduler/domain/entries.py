"""Due entries: what the scheduler publishes when their time comes, and the ids it publishes them under."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Fixed namespace: the id of a fired message is a pure function of what fired, so any republish
# of the same firing carries the same message id and the consumers' inbox absorbs it.
_FIRED_IDS = uuid.UUID("6d1b2c1e-5c3a-4f0e-9a57-0b9a2f7d3c11")

STATES = ("pending", "published", "cancelled")


class InvalidDeferral(ValueError):
    """A `message.deferred` outcome that cannot be turned into a retry (no time or no request)."""


@dataclass(frozen=True)
class DueEntry:
    """Publish `message_type` with `payload` (routed by `key`) at `due_at`; `entry_id` is the requester's key."""

    entry_id: str
    due_at: datetime
    message_type: str
    payload: dict[str, Any]
    key: str | None = None
    owner: str | None = None


def fired_message_id(entry_id: str) -> str:
    """The message id under which the entry `entry_id` is published."""
    return str(uuid.uuid5(_FIRED_IDS, f"entry:{entry_id}"))


def broadcast_message_id(schedule_id: str, fire_time: datetime) -> str:
    """The message id of one firing of a broadcast schedule."""
    return str(uuid.uuid5(_FIRED_IDS, f"broadcast:{schedule_id}:{fire_time.isoformat()}"))


def broadcast_payload(schedule_id: str, fire_time: datetime, owner: str | None,
                      payload: dict[str, Any]) -> dict[str, Any]:
    """The `broadcast.due` payload: the schedule's own payload plus who fired and for when."""
    body = dict(payload)
    body.update({"schedule_id": schedule_id, "fire_time": fire_time.isoformat()})
    if owner is not None:
        body.setdefault("owner", owner)
    return body


def deferral_entry(outcome: dict[str, Any], raw_request: dict[str, Any] | None) -> DueEntry:
    """The entry that asks the gate again at `defer_until`, with `deferrals` counted up.

    `outcome` is the validated `message.deferred` payload; `raw_request` is its `request` as it
    travelled (JSON types), which is what gets republished.
    """
    defer_until = outcome.get("defer_until")
    if defer_until is None:
        raise InvalidDeferral("message.deferred without defer_until")
    if not raw_request:
        raise InvalidDeferral("message.deferred without the original request")
    deferrals = int(raw_request.get("deferrals") or 0)
    request_id = str(raw_request.get("request_id") or outcome["request_id"])
    payload = {**raw_request, "deferrals": deferrals + 1}
    return DueEntry(
        entry_id=f"defer:{request_id}:{deferrals}",
        due_at=defer_until,
        message_type="message.requested",
        payload=payload,
        key=str(raw_request.get("contact_id") or outcome["contact_id"]),
        owner=raw_request.get("campaign_id") or outcome.get("campaign_id"),
    )
