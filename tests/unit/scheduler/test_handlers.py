"""The scheduler's use cases (`services.scheduler.handlers`) against an in-memory fake of their repository."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.scheduler.handlers import (
    InvalidEntry,
    SchedulePaused,
    SchedulerHandlers,
    backlog,
    pause_owner,
    trigger_schedule,
)
from shared.clock import ManualClock
from shared.contracts import register_contracts
from shared.messaging import Message
from tests.unit.scheduler.fakes import FakeUnitOfWork, store_of

register_contracts()  # as a service process does at start-up

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
WAKE = {"enrollment_id": "e1", "step_id": "wait", "campaign_id": "camp", "occurrence": "1"}


def requested(entry_id: str = "wake:e1", owner: str | None = "camp", **payload: object) -> Message:
    return Message("schedule.requested", {"entry_id": entry_id, "due_at": NOW + timedelta(hours=1),
                                          "message_type": "step.due", "key": "c1", "owner": owner,
                                          "payload": {**WAKE, **payload}})


@pytest.fixture
def handlers() -> SchedulerHandlers:
    return SchedulerHandlers(ManualClock(NOW), store=store_of)


def test_a_requested_entry_is_stored_once_whatever_the_redeliveries(handlers: SchedulerHandlers) -> None:
    uow = FakeUnitOfWork()
    handlers.handle(uow, requested())
    handlers.handle(uow, requested())
    (row,) = uow.store.entries.values()
    assert row["state"] == "pending" and not row["paused"]
    assert row["entry"].due_at == NOW + timedelta(hours=1) and row["entry"].payload == WAKE
    assert uow.published == []  # the poller publishes when the entry is due, never the handler


def test_an_entry_of_a_paused_owner_arrives_paused(handlers: SchedulerHandlers) -> None:
    uow = FakeUnitOfWork()
    pause_owner(uow, "camp", True, NOW, store=store_of)
    handlers.handle(uow, requested())
    assert uow.store.entries["wake:e1"]["paused"]


def test_a_payload_the_consumer_would_refuse_is_refused_now(handlers: SchedulerHandlers) -> None:
    uow = FakeUnitOfWork()
    bad = requested()
    del bad.payload["payload"]["enrollment_id"]
    with pytest.raises(InvalidEntry, match="enrollment_id"):
        handlers.handle(uow, bad)
    assert uow.store.entries == {}


def test_a_cancel_before_its_request_leaves_a_tombstone_the_request_cannot_revive(
        handlers: SchedulerHandlers) -> None:
    uow = FakeUnitOfWork()
    handlers.handle(uow, Message("schedule.cancelled", {"entry_id": "wake:e1", "owner": None}))
    handlers.handle(uow, requested())
    assert uow.store.entries["wake:e1"]["state"] == "cancelled"


def test_cancelling_an_owner_cancels_only_its_pending_entries(handlers: SchedulerHandlers) -> None:
    uow = FakeUnitOfWork()
    handlers.handle(uow, requested("a"))
    handlers.handle(uow, requested("b", owner="other"))
    handlers.handle(uow, Message("schedule.cancelled", {"entry_id": None, "owner": "camp"}))
    assert {k: r["state"] for k, r in uow.store.entries.items()} == {"a": "cancelled", "b": "pending"}


def test_a_recurring_schedule_gets_its_next_fire_time_and_keeps_what_already_fired(
        handlers: SchedulerHandlers) -> None:
    uow = FakeUnitOfWork()
    schedule = {"schedule_id": "campaign:camp", "owner": "camp", "at": None, "cron": "0 9 * * *",
                "timezone": "UTC", "message_type": "broadcast.due", "payload": {"campaign_id": "camp"}}
    handlers.handle(uow, Message("schedule.recurring.upserted", schedule))
    assert uow.store.schedules["campaign:camp"]["next_fire_at"] == datetime(2026, 3, 5, 9, tzinfo=UTC)
    uow.store.schedules["campaign:camp"]["last_fired_at"] = NOW
    handlers.handle(uow, Message("schedule.recurring.upserted", {**schedule, "cron": "0 18 * * *"}))
    stored = uow.store.schedules["campaign:camp"]
    assert stored["last_fired_at"] == NOW and stored["next_fire_at"] == datetime(2026, 3, 4, 18, tzinfo=UTC)
    handlers.handle(uow, Message("schedule.recurring.removed", {"schedule_id": "campaign:camp"}))
    handlers.handle(uow, Message("schedule.recurring.removed", {"schedule_id": "campaign:camp"}))
    assert uow.store.schedules == {}


def test_triggering_publishes_one_broadcast_with_a_stable_id_unless_paused(handlers: SchedulerHandlers) -> None:
    uow = FakeUnitOfWork()
    handlers.handle(uow, Message("schedule.recurring.upserted", {
        "schedule_id": "campaign:camp", "owner": "camp", "at": NOW + timedelta(days=1), "cron": None,
        "timezone": "UTC", "message_type": "broadcast.due", "payload": {"campaign_id": "camp"}}))
    first = trigger_schedule(uow, "campaign:camp", NOW, store=store_of)
    again = trigger_schedule(uow, "campaign:camp", NOW, store=store_of)
    assert first["message_id"] == again["message_id"]  # the consumers' inbox absorbs the repeat
    assert [m["type"] for m in uow.published] == ["broadcast.due", "broadcast.due"]
    assert uow.published[0]["payload"]["fire_time"] == NOW.isoformat()
    pause_owner(uow, "camp", True, NOW, store=store_of)
    with pytest.raises(SchedulePaused):
        trigger_schedule(uow, "campaign:camp", NOW, store=store_of)


class _BacklogStore:
    """Answers the two reads `backlog` makes, as the repository does."""

    def __init__(self, oldest: datetime | None) -> None:
        self.oldest = oldest

    def stats(self, now: datetime) -> dict:
        return {"pending": 3, "overdue": 1 if self.oldest else 0, "oldest_overdue_due_at": self.oldest,
                "paused": 0, "schedules": 2}

    def current_leader(self) -> dict | None:
        return {"identity": "scheduler-1", "pid": 7, "client_addr": None, "since": NOW}


def test_backlog_gives_the_oldest_overdue_age_and_the_leader() -> None:
    figures = backlog(_BacklogStore(NOW - timedelta(seconds=90)), NOW)
    assert figures["oldest_overdue_age_seconds"] == 90 and figures["leader"]["identity"] == "scheduler-1"
    assert "oldest_overdue_due_at" not in figures and figures["now"] == NOW
    assert backlog(_BacklogStore(None), NOW)["oldest_overdue_age_seconds"] is None
