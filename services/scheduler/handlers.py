"""Use cases of the scheduler: one function per message or command, each taking a unit of work."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.scheduler import repository as repo
from services.scheduler.domain.entries import (
    DueEntry,
    broadcast_message_id,
    broadcast_payload,
    deferral_entry,
)
from services.scheduler.domain.recurrence import InvalidSchedule, Recurrence, next_fire
from shared.clock import Clock
from shared.messaging import Message, UnitOfWork
from shared.messaging.contracts import schema_for


class InvalidEntry(ValueError):
    """A schedule request whose payload would be refused when it fires."""


def _check_fired_payload(message_type: str, payload: dict[str, Any]) -> None:
    """Refuse now what the consumer of the fired message would dead-letter later."""
    schema = schema_for(message_type, 1)
    errors = schema.validate(payload) if schema is not None else {}
    if errors:
        raise InvalidEntry(f"payload of {message_type} invalid: {json.dumps(errors, sort_keys=True, default=str)}")


def _jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(payload, default=str))


@dataclass
class SchedulerHandlers:
    """The message handlers, bound to a clock."""

    clock: Clock

    def schedule_requested(self, uow: UnitOfWork, message: Message) -> None:
        """Create a due entry; a known entry_id is ignored (it is the requester's idempotency key)."""
        p = message.payload
        _check_fired_payload(p["message_type"], p["payload"])
        repo.add_entries(uow.conn, [DueEntry(entry_id=p["entry_id"], due_at=p["due_at"], message_type=p["message_type"],
                                             payload=_jsonable(p["payload"]), key=p["key"], owner=p["owner"])])

    def schedule_cancelled(self, uow: UnitOfWork, message: Message) -> None:
        """Cancel pending entries by entry id or by owner."""
        p = message.payload
        if not p["entry_id"] and not p["owner"]:
            raise InvalidEntry("schedule.cancelled needs entry_id or owner")
        now = self.clock.now()
        if p["entry_id"]:
            repo.cancel_entry(uow.conn, p["entry_id"], now)
        if p["owner"]:
            repo.cancel_owner(uow.conn, p["owner"], now)

    def recurring_upserted(self, uow: UnitOfWork, message: Message) -> None:
        """Store a broadcast schedule with its next fire time (keeping what already fired)."""
        p = message.payload
        recurrence = Recurrence(at=p["at"], cron=p["cron"], timezone=p["timezone"])
        existing = repo.get_schedule(uow.conn, p["schedule_id"], lock=True)
        last = existing.last_fired_at if existing is not None else None
        repo.upsert_schedule(uow.conn, {
            "schedule_id": p["schedule_id"], "owner": p["owner"], "at": p["at"], "cron": p["cron"],
            "timezone": p["timezone"], "message_type": p["message_type"], "payload": _jsonable(p["payload"]),
            "next_fire_at": next_fire(recurrence, self.clock.now(), last), "last_fired_at": last,
            "paused": repo.is_paused(uow.conn, p["owner"]),
        })

    def recurring_removed(self, uow: UnitOfWork, message: Message) -> None:
        """Forget a broadcast schedule (removing an unknown one is fine: redelivery)."""
        repo.remove_schedule(uow.conn, message.payload["schedule_id"])

    def message_deferred(self, uow: UnitOfWork, message: Message) -> None:
        """The gate deferred a request: ask it again at defer_until, with deferrals counted up."""
        entry = deferral_entry(message.payload, message.payload.get("request"))
        _check_fired_payload(entry.message_type, entry.payload)
        repo.add_entries(uow.conn, [entry])

    def handle(self, uow: UnitOfWork, message: Message) -> None:
        """Route one message to its handler by type."""
        route = {
            "schedule.requested": self.schedule_requested,
            "schedule.cancelled": self.schedule_cancelled,
            "schedule.recurring.upserted": self.recurring_upserted,
            "schedule.recurring.removed": self.recurring_removed,
            "message.deferred": self.message_deferred,
        }.get(message.type)
        if route is None:
            raise InvalidEntry(f"the scheduler does not handle {message.type}")
        route(uow, message)


class ScheduleNotFound(LookupError):
    """No schedule with that id."""


class SchedulePaused(RuntimeError):
    """The schedule's owner is paused: resume before triggering."""


def trigger_schedule(uow: UnitOfWork, schedule_id: str, now: datetime) -> dict[str, Any]:
    """Publish `broadcast.due` for a schedule right now (fire_time = now); its regular timing is unchanged."""
    row = repo.get_schedule(uow.conn, schedule_id)
    if row is None:
        raise ScheduleNotFound(schedule_id)
    if row.paused or repo.is_paused(uow.conn, row.owner):
        raise SchedulePaused(schedule_id)
    message = uow.publish(row.message_type, broadcast_payload(schedule_id, now, row.owner, row.payload),
                          key=schedule_id, message_id=broadcast_message_id(schedule_id, now), occurred_at=now)
    return {"schedule_id": schedule_id, "fire_time": now, "message_id": message.id}


def pause_owner(uow: UnitOfWork, owner: str, paused: bool, now: datetime) -> dict[str, Any]:
    """Pause or resume an owner's entries and schedules; resumed overdue ones fire on the next ticks."""
    entries, schedules = repo.set_paused(uow.conn, owner, paused, now)
    return {"owner": owner, "paused": paused, "entries_changed": entries, "schedules_changed": schedules}


__all__ = ["InvalidEntry", "InvalidSchedule", "ScheduleNotFound", "SchedulePaused", "SchedulerHandlers",
           "pause_owner", "trigger_schedule"]
