"""Use cases of the scheduler: one function per message or command, each taking a unit of work."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.scheduler.domain.entries import (
    DueEntry,
    broadcast_message_id,
    broadcast_payload,
    deferral_entry,
)
from services.scheduler.domain.recurrence import InvalidSchedule, Recurrence, next_fire
from services.scheduler.repository import ScheduleStore
from shared.clock import Clock
from shared.messaging import Message, UnitOfWork
from shared.messaging.registry import schema_for


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
    """The message handlers, bound to a clock and to how a unit of work's repository is reached."""

    clock: Clock
    store: Callable[[UnitOfWork], ScheduleStore] = ScheduleStore.of

    def schedule_requested(self, uow: UnitOfWork, message: Message) -> None:
        """Create a due entry; a known entry_id is ignored (it is the requester's idempotency key)."""
        p = message.payload
        _check_fired_payload(p["message_type"], p["payload"])
        self.store(uow).add_entries([DueEntry(entry_id=p["entry_id"], due_at=p["due_at"],
                                              message_type=p["message_type"], payload=_jsonable(p["payload"]),
                                              key=p["key"], owner=p["owner"])])

    def schedule_cancelled(self, uow: UnitOfWork, message: Message) -> None:
        """Cancel pending entries by entry id or by owner."""
        p = message.payload
        if not p["entry_id"] and not p["owner"]:
            raise InvalidEntry("schedule.cancelled needs entry_id or owner")
        now, store = self.clock.now(), self.store(uow)
        if p["entry_id"]:
            store.cancel_entry(p["entry_id"], now)
        if p["owner"]:
            store.cancel_owner(p["owner"], now)

    def recurring_upserted(self, uow: UnitOfWork, message: Message) -> None:
        """Store a broadcast schedule with its next fire time (keeping what already fired)."""
        p = message.payload
        recurrence = Recurrence(at=p["at"], cron=p["cron"], timezone=p["timezone"])
        store = self.store(uow)
        existing = store.get_schedule(p["schedule_id"], lock=True)
        last = existing.last_fired_at if existing is not None else None
        store.upsert_schedule({
            "schedule_id": p["schedule_id"], "owner": p["owner"], "at": p["at"], "cron": p["cron"],
            "timezone": p["timezone"], "message_type": p["message_type"], "payload": _jsonable(p["payload"]),
            "next_fire_at": next_fire(recurrence, self.clock.now(), last), "last_fired_at": last,
            "paused": store.is_paused(p["owner"]),
        })

    def recurring_removed(self, uow: UnitOfWork, message: Message) -> None:
        """Forget a broadcast schedule (removing an unknown one is fine: redelivery)."""
        self.store(uow).remove_schedule(message.payload["schedule_id"])

    def message_deferred(self, uow: UnitOfWork, message: Message) -> None:
        """The gate deferred a request: ask it again at defer_until, with deferrals counted up."""
        entry = deferral_entry(message.payload, message.payload.get("request"))
        _check_fired_payload(entry.message_type, entry.payload)
        self.store(uow).add_entries([entry])

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


def trigger_schedule(uow: UnitOfWork, schedule_id: str, now: datetime,
                     store: Callable[[UnitOfWork], ScheduleStore] = ScheduleStore.of) -> dict[str, Any]:
    """Publish `broadcast.due` for a schedule right now (fire_time = now); its regular timing is unchanged."""
    schedules = store(uow)
    row = schedules.get_schedule(schedule_id)
    if row is None:
        raise ScheduleNotFound(schedule_id)
    if row.paused or schedules.is_paused(row.owner):
        raise SchedulePaused(schedule_id)
    message = uow.publish(row.message_type, broadcast_payload(schedule_id, now, row.owner, row.payload),
                          key=schedule_id, message_id=broadcast_message_id(schedule_id, now), occurred_at=now)
    return {"schedule_id": schedule_id, "fire_time": now, "message_id": message.id}


def pause_owner(uow: UnitOfWork, owner: str, paused: bool, now: datetime,
                store: Callable[[UnitOfWork], ScheduleStore] = ScheduleStore.of) -> dict[str, Any]:
    """Pause or resume an owner's entries and schedules; resumed overdue ones fire on the next ticks."""
    entries, schedules = store(uow).set_paused(owner, paused, now)
    return {"owner": owner, "paused": paused, "entries_changed": entries, "schedules_changed": schedules}


def list_entries(store: ScheduleStore, *, state: str, due_before: datetime | None, owner: str | None,
                 after: tuple[datetime, int] | None, limit: int, unpaused_only: bool = False) -> list[dict[str, Any]]:
    """One page of entries in due order, after the keyset position (due_at, id)."""
    rows = store.list_entries(state=state, due_before=due_before, owner=owner, after=after, limit=limit,
                              unpaused_only=unpaused_only)
    return [dict(r._mapping) for r in rows]


def list_schedules(store: ScheduleStore, *, owner: str | None, after: str | None, limit: int) -> list[dict[str, Any]]:
    """One page of broadcast schedules in id order, after the schedule id `after`."""
    return [dict(r._mapping) for r in store.list_schedules(owner=owner, after=after, limit=limit)]


def backlog(store: ScheduleStore, now: datetime) -> dict[str, Any]:
    """Pending, overdue and paused counts, the oldest overdue age, schedules, and which replica leads."""
    figures = store.stats(now)
    oldest = figures.pop("oldest_overdue_due_at")
    return {**figures, "now": now, "leader": store.current_leader(),
            "oldest_overdue_age_seconds": (now - oldest).total_seconds() if oldest is not None else None}


__all__ = ["InvalidEntry", "InvalidSchedule", "ScheduleNotFound", "SchedulePaused", "SchedulerHandlers",
           "backlog", "list_entries", "list_schedules", "pause_owner", "trigger_schedule"]
