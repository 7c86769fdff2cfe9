"""The poll job sleeps until something is due: a stored entry, a resumed owner or a changed schedule
wakes it through NOTIFY (migration 0003's triggers). The worker's fallback and its lock keep-alive
are set to ten minutes here, far beyond the tests' bounds, so a pass proves the notification woke it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.scheduler.repository import current_leader, set_paused
from tests.integration.scheduler.conftest import insert_entries, spawn_worker, states, step_entries
from tests.support import wait_for

pytestmark = pytest.mark.integration

ASLEEP = {"fallback_s": 600, "leader_idle_timeout_s": 1800}  # keep-alive = a third of the timeout: 600 s


def leading(engine) -> bool:
    with engine.connect() as conn:
        return current_leader(conn) is not None


def test_an_entry_stored_while_the_poll_sleeps_fires_at_its_due_time(make_harness, probe):
    harness = make_harness()
    worker = spawn_worker(harness, **ASLEEP)
    try:
        wait_for(lambda: leading(harness.engine), timeout=30, message="a leader")
        now = datetime.now(UTC)
        insert_entries(harness.engine, step_entries("soon", [now + timedelta(seconds=1)] * 3))
        wait_for(lambda: len(probe.collect()) >= 3, timeout=30, message="the entries fired")
        for message in probe.collect():
            assert datetime.fromisoformat(message["occurred_at"]) >= now + timedelta(seconds=1), "fired early"
        # An entry due later than one already planned, then a sooner one: both fire.
        now = datetime.now(UTC)
        insert_entries(harness.engine, step_entries("later", [now + timedelta(seconds=4)]))
        insert_entries(harness.engine, step_entries("sooner", [now + timedelta(seconds=1)]))
        wait_for(lambda: len(probe.collect()) >= 5, timeout=30, message="the later and the sooner entry")
        assert states(harness.engine) == {"published": 5}
    finally:
        worker.kill()
        worker.wait(10)


def test_resuming_an_owner_wakes_the_poll_for_its_overdue_entries(make_harness, probe):
    harness = make_harness()
    worker = spawn_worker(harness, **ASLEEP)
    try:
        wait_for(lambda: leading(harness.engine), timeout=30, message="a leader")
        now = datetime.now(UTC)
        with harness.engine.begin() as conn:
            set_paused(conn, "camp-p", True, now)
        insert_entries(harness.engine, step_entries("held", [now - timedelta(seconds=5)] * 4, owner="camp-p"))
        with harness.engine.begin() as conn:
            set_paused(conn, "camp-p", False, datetime.now(UTC))
        wait_for(lambda: len(probe.collect()) >= 4, timeout=30, message="the resumed owner's entries")
        assert states(harness.engine) == {"published": 4}
    finally:
        worker.kill()
        worker.wait(10)
