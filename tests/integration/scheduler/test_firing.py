"""Firing on the real broker and database: on time, never early, nothing lost on a crash, one leader."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.scheduler.repository import current_leader, due_entries
from shared.messaging import Message
from tests.integration.scheduler.conftest import insert_entries, send, spawn_worker, states, step_entries
from tests.support import wait_for

pytestmark = pytest.mark.integration


def leader_identity(engine) -> str | None:
    with engine.connect() as conn:
        leader = current_leader(conn)
    return leader["identity"] if leader else None


def test_requested_entries_fire_once_after_their_due_time(make_harness, probe, amqp_url, broker_namespace):
    harness = make_harness()
    harness.start_worker()
    now = datetime.now(UTC)
    due = {f"soon-{i}": now + timedelta(milliseconds=500 + 100 * i) for i in range(6)}
    send(amqp_url, broker_namespace, [
        Message(type="schedule.requested", payload={
            "entry_id": entry_id, "due_at": at.isoformat(), "message_type": "step.due", "key": f"c{i}",
            "owner": "camp-1", "payload": {"enrollment_id": entry_id, "step_id": "wait-1"}})
        for i, (entry_id, at) in enumerate(due.items())])
    wait_for(lambda: len(probe.collect()) >= len(due), timeout=20, message="every entry fired")
    arrived = {m["payload"]["enrollment_id"]: m for m in probe.collect()}
    assert sorted(arrived) == sorted(due) and len(probe.received) == len(due)
    for entry_id, message in arrived.items():
        assert message["type"] == "step.due" and message["source"] == "scheduler"
        assert datetime.fromisoformat(message["occurred_at"]) >= due[entry_id], f"{entry_id} fired early"
    with harness.engine.connect() as conn:
        rows = conn.execute(select(due_entries.c.entry_id, due_entries.c.due_at, due_entries.c.settled_at,
                                   due_entries.c.state)).all()
    assert {r.state for r in rows} == {"published"}
    assert all(r.settled_at >= r.due_at for r in rows)


def test_a_killed_scheduler_loses_nothing_after_restart(make_harness, probe):
    harness = make_harness()
    total = 4000
    now = datetime.now(UTC)
    insert_entries(harness.engine, step_entries("crash", [now - timedelta(seconds=60) + timedelta(milliseconds=i)
                                                          for i in range(total)]))
    # Small batches make the backlog take several seconds, so the kill lands mid-stream.
    worker = spawn_worker(harness, batch_size=100, max_batches_per_tick=1, poll_interval_s=0.1)
    try:
        wait_for(lambda: states(harness.engine).get("published", 0) >= 300, timeout=30, message="firing started")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        assert states(harness.engine).get("pending", 0) > 0, "the kill should land before the backlog is done"
        worker = spawn_worker(harness, batch_size=1000, max_batches_per_tick=2)
        wait_for(lambda: states(harness.engine) == {"published": total}, timeout=60, message="all entries published")
        wait_for(lambda: len(probe.count_by("enrollment_id")) == total, timeout=60, message="every entry arrived")
    finally:
        worker.kill()
        worker.wait(10)
    counts = probe.count_by("enrollment_id")
    assert set(counts) == {f"crash-{i}" for i in range(total)}
    assert min(counts.values()) >= 1


def test_two_replicas_fire_each_entry_once_and_the_survivor_takes_over(make_harness, probe):
    harness = make_harness()
    replicas = [spawn_worker(harness, replica_id=f"replica-{n}") for n in range(2)]
    try:
        first = wait_for(lambda: leader_identity(harness.engine), timeout=30, message="a leader")
        now = datetime.now(UTC)
        insert_entries(harness.engine, step_entries("pair", [now + timedelta(milliseconds=i) for i in range(2000)]))
        wait_for(lambda: len(probe.collect()) >= 2000, timeout=30, message="the first wave")
        assert leader_identity(harness.engine) == first, "leadership must not flap while the leader lives"

        leader = replicas[int(first.rsplit("-", 1)[1])]
        leader.send_signal(signal.SIGKILL)
        leader.wait(10)
        second = wait_for(lambda: leader_identity(harness.engine), timeout=15, message="a new leader")
        assert second != first
        now = datetime.now(UTC)
        insert_entries(harness.engine, step_entries("after", [now + timedelta(milliseconds=i) for i in range(500)]))
        wait_for(lambda: len(probe.collect()) >= 2500, timeout=30, message="the second wave")
    finally:
        for replica in replicas:
            replica.kill()
            replica.wait(10)
    counts = probe.count_by("enrollment_id")
    assert len(counts) == 2500
    assert set(counts.values()) == {1}, "an entry was fired twice"
    assert states(harness.engine) == {"published": 2500}


def test_a_hung_leader_loses_the_lock_and_the_other_replica_fires(make_harness, probe):
    harness = make_harness()
    replicas = [spawn_worker(harness, replica_id=f"hung-{n}", leader_idle_timeout_s=2) for n in range(2)]
    try:
        first = wait_for(lambda: leader_identity(harness.engine), timeout=30, message="a leader")
        hung = replicas[int(first.rsplit("-", 1)[1])]
        hung.send_signal(signal.SIGSTOP)  # alive but silent: its session stays open until the server ends it
        second = wait_for(lambda: (leader_identity(harness.engine) or first) != first and leader_identity(
            harness.engine), timeout=20, message="the idle leader's session ended and the other took over")
        now = datetime.now(UTC)
        insert_entries(harness.engine, step_entries("hung", [now + timedelta(milliseconds=i) for i in range(300)]))
        wait_for(lambda: len(probe.collect()) >= 300, timeout=30, message="entries fired by the new leader")
        hung.send_signal(signal.SIGCONT)  # it wakes up, finds its session gone, and does not fire again
        insert_entries(harness.engine, step_entries("woke", [datetime.now(UTC)] * 100))
        wait_for(lambda: len(probe.collect()) >= 400, timeout=30, message="entries after the wake-up")
        assert leader_identity(harness.engine) == second
    finally:
        for replica in replicas:
            replica.send_signal(signal.SIGCONT)
            replica.kill()
            replica.wait(10)
    counts = probe.count_by("enrollment_id")
    assert len(counts) == 400 and set(counts.values()) == {1}
