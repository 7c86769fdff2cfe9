"""An in-memory fake of the scheduler's repository (`services.scheduler.repository.ScheduleStore`) and unit of work.

It answers what the SQL answers (a known entry id is ignored, cancelling an unknown entry leaves a
tombstone, a paused owner's new entries arrive paused), so the handlers run with no database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from services.scheduler.domain.entries import DueEntry


class FakeScheduleStore:
    """Entries, schedules and paused owners in dicts."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}
        self.schedules: dict[str, dict[str, Any]] = {}
        self.paused_owners: set[str] = set()

    def is_paused(self, owner: str | None) -> bool:
        return owner is not None and owner in self.paused_owners

    def add_entries(self, entries: Sequence[DueEntry]) -> int:
        new = 0
        for e in entries:
            if e.entry_id not in self.entries:
                self.entries[e.entry_id] = {"entry": e, "state": "pending", "paused": self.is_paused(e.owner),
                                            "settled_at": None}
                new += 1
        return new

    def cancel_entry(self, entry_id: str, now: datetime) -> int:
        row = self.entries.get(entry_id)
        if row is None:
            self.entries[entry_id] = {"entry": DueEntry(entry_id, now, "step.due", {}), "state": "cancelled",
                                      "paused": False, "settled_at": now}
            return 0
        if row["state"] != "pending":
            return 0
        row.update(state="cancelled", settled_at=now)
        return 1

    def cancel_owner(self, owner: str, now: datetime) -> int:
        changed = 0
        for row in self.entries.values():
            if row["entry"].owner == owner and row["state"] == "pending":
                row.update(state="cancelled", settled_at=now)
                changed += 1
        return changed

    def get_schedule(self, schedule_id: str, lock: bool = False) -> Any:
        row = self.schedules.get(schedule_id)
        return SimpleNamespace(**row) if row is not None else None

    def upsert_schedule(self, values: dict[str, Any]) -> None:
        self.schedules[values["schedule_id"]] = dict(values)

    def remove_schedule(self, schedule_id: str) -> int:
        return 1 if self.schedules.pop(schedule_id, None) is not None else 0

    def set_paused(self, owner: str, paused: bool, now: datetime) -> tuple[int, int]:
        (self.paused_owners.add if paused else self.paused_owners.discard)(owner)
        entries = [r for r in self.entries.values()
                   if r["entry"].owner == owner and r["state"] == "pending" and r["paused"] != paused]
        schedules = [s for s in self.schedules.values() if s["owner"] == owner and s["paused"] != paused]
        for row in (*entries, *schedules):
            row["paused"] = paused
        return len(entries), len(schedules)


class FakeUnitOfWork:
    """Records what a handler publishes; `store` is what `SchedulerHandlers(store=...)` hands out."""

    def __init__(self) -> None:
        self.store = FakeScheduleStore()
        self.published: list[dict[str, Any]] = []

    def publish(self, message_type: str, payload: dict[str, Any], key: str | None = None, **fields: Any) -> Any:
        message = {"type": message_type, "payload": payload, "key": key, **fields}
        self.published.append(message)
        return SimpleNamespace(id=fields.get("message_id") or f"m{len(self.published)}")


def store_of(uow: FakeUnitOfWork) -> FakeScheduleStore:
    """The `store` argument of the handlers under test."""
    return uow.store
