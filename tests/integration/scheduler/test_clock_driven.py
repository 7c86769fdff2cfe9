"""The poll driven by a manual clock: cron across DST, pause/resume, trigger, deferrals, cancellation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from services.scheduler.poller import DuePoller
from services.scheduler.repository import TABLES, due_entries, recurring_schedules
from shared.clock import ManualClock
from shared.messaging import Message
from shared.messaging.outbox import wait_until_drained
from tests.integration.scheduler.conftest import insert_entries, send, states, step_entries
from tests.support import wait_for

pytestmark = pytest.mark.integration

BERLIN = ZoneInfo("Europe/Berlin")


def schedule_row(engine, schedule_id: str):
    with engine.connect() as conn:
        return conn.execute(select(recurring_schedules).where(recurring_schedules.c.schedule_id == schedule_id)).first()


def fire(poller: DuePoller, engine) -> None:
    """One tick, then wait until the relay has moved what it wrote."""
    poller.tick()
    assert wait_until_drained(engine, TABLES.outbox)


def test_daily_nine_in_berlin_fires_at_nine_local_around_both_dst_changes(make_harness, probe, amqp_url,
                                                                           broker_namespace):
    clock = ManualClock(datetime(2026, 3, 27, 12, tzinfo=UTC))
    harness = make_harness(clock)
    harness.start_worker(background=False)
    poller = DuePoller(harness.engine, clock, leader=None)
    send(amqp_url, broker_namespace, [Message(type="schedule.recurring.upserted", payload={
        "schedule_id": "daily-news", "owner": "camp-news", "cron": "0 9 * * *", "timezone": "Europe/Berlin",
        "payload": {"segment": "subscribers"}})])
    wait_for(lambda: schedule_row(harness.engine, "daily-news"), message="the schedule stored")

    def fire_next() -> datetime:
        due = schedule_row(harness.engine, "daily-news").next_fire_at
        clock.set(due - timedelta(seconds=1))
        fire(poller, harness.engine)
        assert probe.collect() == fired, "fired before its time"
        clock.set(due)
        fire(poller, harness.engine)
        wait_for(lambda: len(probe.collect()) == len(fired) + 1, message="the broadcast")
        fired[:] = probe.collect()
        return due

    fired: list[dict] = []
    spring = [fire_next() for _ in range(3)]
    clock.set(datetime(2026, 10, 23, 12, tzinfo=UTC))  # months without a scheduler: the overdue one fires once
    fire(poller, harness.engine)
    wait_for(lambda: len(probe.collect()) == 4, message="the overdue firing")
    assert fired[-1] != probe.collect()[-1]
    fired[:] = probe.collect()
    autumn = [fire_next() for _ in range(3)]

    local = [t.astimezone(BERLIN) for t in spring + autumn]
    assert [(t.hour, t.minute) for t in local] == [(9, 0)] * 6
    assert [t.date().isoformat() for t in local] == ["2026-03-28", "2026-03-29", "2026-03-30",
                                                     "2026-10-24", "2026-10-25", "2026-10-26"]
    assert [t.astimezone(UTC).hour for t in spring + autumn] == [8, 7, 7, 7, 8, 8]
    bodies = [m["payload"] for m in fired]
    assert [datetime.fromisoformat(b["fire_time"]) for b in bodies if b["fire_time"] >= "2026-10-24"] == autumn
    assert all(b["schedule_id"] == "daily-news" and b["segment"] == "subscribers" for b in bodies)
    assert all(m["type"] == "broadcast.due" for m in fired)


def test_pause_keeps_entries_resume_catches_up_and_trigger_fires_now(make_harness, probe):
    clock = ManualClock(datetime(2026, 6, 1, 10, tzinfo=UTC))
    harness = make_harness(clock)
    harness.start_worker(consumers=False, background=False)
    poller = DuePoller(harness.engine, clock, leader=None, batch_size=50, max_batches_per_tick=1)
    past = [clock.now() - timedelta(minutes=30) + timedelta(seconds=i) for i in range(120)]
    insert_entries(harness.engine, step_entries("a", past, owner="camp-a") + step_entries("b", past[:10],
                                                                                          owner="camp-b"))
    paused = harness.post("/owners/camp-a/pause", json={"reason": "legal review"})
    assert paused.status_code == 200 and paused.json["entries_changed"] == 120
    fire(poller, harness.engine)
    wait_for(lambda: len(probe.collect()) == 10, message="camp-b fired")
    assert {m["payload"]["enrollment_id"][0] for m in probe.collect()} == {"b"}
    assert harness.get("/entries/overdue").json["items"] == []
    listed = harness.get("/entries?owner=camp-a&limit=100").json
    assert len(listed["items"]) == 100 and all(i["paused"] for i in listed["items"]) and listed["next_cursor"]
    rest = harness.get(f"/entries?owner=camp-a&limit=100&cursor={listed['next_cursor']}").json
    assert len(rest["items"]) == 20 and rest["next_cursor"] is None
    stats = harness.get("/stats").json
    assert (stats["pending"], stats["overdue"], stats["paused"]) == (0, 0, 120)

    assert harness.post("/owners/camp-a/resume").json["entries_changed"] == 120
    stats = harness.get("/stats").json
    assert stats["overdue"] == 120 and stats["oldest_overdue_age_seconds"] == 30 * 60
    assert [i["entry_id"] for i in harness.get("/entries/overdue?limit=3").json["items"]] == ["a-0", "a-1", "a-2"]
    for _ in range(3):  # bounded batches, oldest first
        fire(poller, harness.engine)
    wait_for(lambda: len(probe.collect()) == 130, message="camp-a caught up")
    order = [int(m["payload"]["enrollment_id"][2:]) for m in probe.collect()[10:]]
    assert order == sorted(order)
    assert states(harness.engine) == {"published": 130}

    with harness.engine.begin() as conn:
        conn.execute(recurring_schedules.insert().values(
            schedule_id="promo", owner="camp-a", cron="0 9 * * 1", timezone="UTC", message_type="broadcast.due",
            payload={"segment": "all"}, next_fire_at=datetime(2026, 6, 8, 9, tzinfo=UTC)))
    triggered = harness.post("/schedules/promo/trigger")
    assert triggered.status_code == 202
    wait_for(lambda: len(probe.collect()) == 131, message="the triggered broadcast")
    broadcast = probe.collect()[-1]
    assert broadcast["type"] == "broadcast.due"
    assert datetime.fromisoformat(broadcast["payload"]["fire_time"]) == clock.now()
    assert schedule_row(harness.engine, "promo").next_fire_at == datetime(2026, 6, 8, 9, tzinfo=UTC)
    assert harness.get("/schedules").json["items"][0]["schedule_id"] == "promo"
    harness.post("/owners/camp-a/pause")
    assert harness.post("/schedules/promo/trigger").status_code == 409
    assert harness.post("/schedules/nope/trigger").status_code == 404


def test_deferrals_cancellations_and_duplicates(make_harness, probe, amqp_url, broker_namespace):
    clock = ManualClock(datetime(2026, 6, 1, 10, tzinfo=UTC))
    harness = make_harness(clock)
    harness.start_worker(background=False)
    poller = DuePoller(harness.engine, clock, leader=None)
    until = clock.now() + timedelta(hours=8)
    request = {"request_id": "req-1", "contact_id": "c-1", "channel": "sms", "category": "marketing",
               "campaign_id": "camp-q", "content": {"text": "hi"}, "deferrals": 1}
    deferred = {"request_id": "req-1", "contact_id": "c-1", "channel": "sms", "outcome": "deferred",
                "reason": "quiet_hours", "decided_at": clock.now().isoformat(), "defer_until": until.isoformat(),
                "request": request}
    step = {"entry_id": "e-1", "due_at": (clock.now() + timedelta(minutes=5)).isoformat(),
            "message_type": "step.due", "payload": {"enrollment_id": "en-1", "step_id": "s2"}}
    send(amqp_url, broker_namespace, [
        Message(type="message.deferred", payload=deferred), Message(type="message.deferred", payload=deferred),
        Message(type="schedule.requested", payload=step), Message(type="schedule.requested", payload=step),
        Message(type="schedule.cancelled", payload={"entry_id": "e-2"}),  # before its request: a tombstone
        Message(type="schedule.requested", payload={**step, "entry_id": "e-2"}),
    ])
    wait_for(lambda: sum(states(harness.engine).values()) == 3, message="three entries")
    wait_for(lambda: states(harness.engine).get("cancelled") == 1, message="the tombstone")
    with harness.engine.connect() as conn:
        rows = {r.entry_id: r for r in conn.execute(select(due_entries))}
    assert set(rows) == {"defer:req-1:1", "e-1", "e-2"} and rows["e-2"].state == "cancelled"
    assert rows["defer:req-1:1"].due_at == until and rows["defer:req-1:1"].owner == "camp-q"

    clock.set(until)
    fire(poller, harness.engine)
    wait_for(lambda: len(probe.collect()) == 2, message="the step and the retried request")
    by_type = {m["type"]: m for m in probe.collect()}
    assert by_type["message.requested"]["payload"] == {**request, "deferrals": 2}
    assert by_type["message.requested"]["key"] == "c-1"
    assert by_type["step.due"]["payload"] == {"enrollment_id": "en-1", "step_id": "s2"}
