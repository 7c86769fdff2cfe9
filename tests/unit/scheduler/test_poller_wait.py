"""How long the scheduler's poll job sleeps after a tick, and which notifications wake it. No database:
the next due time is a stand-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.scheduler import poller as poller_module
from services.scheduler.poller import DuePoller, TickResult
from shared.clock import ManualClock

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


class Leader:
    idle_timeout_s = 9.0

    def ensure(self) -> bool:
        return True

    def release(self) -> None:
        pass


class NoConnection:
    def __enter__(self):
        return None

    def __exit__(self, *exc) -> None:
        return None


class Engine:
    def connect(self) -> NoConnection:
        return NoConnection()


@pytest.fixture
def make(monkeypatch):
    def build(next_due: datetime | None, **kwargs) -> DuePoller:
        monkeypatch.setattr(poller_module.repo, "next_due", lambda conn: next_due)
        return DuePoller(Engine(), ManualClock(NOW), Leader(), interval_s=0.25, batch_size=10,
                         max_batches_per_tick=2, fallback_s=30.0, standby_s=1.0, **kwargs)
    return build


def test_it_sleeps_until_the_next_due_time(make):
    poller = make(NOW + timedelta(seconds=2))
    assert poller.next_wait(TickResult(leader=True, entries=3), 0.01) == pytest.approx(2.0)


def test_the_leader_wakes_within_a_third_of_its_lock_timeout_however_far_the_next_due(make):
    assert make(NOW + timedelta(days=3)).next_wait(TickResult(leader=True), 0.01) == pytest.approx(3.0)
    assert make(None).next_wait(TickResult(leader=True), 0.01) == pytest.approx(3.0)


def test_a_standby_tries_the_lock_every_standby_interval(make):
    assert make(NOW).next_wait(TickResult(leader=False), 0.01) == 1.0


def test_a_backlog_is_worked_off_one_tick_per_interval(make):
    poller = make(NOW - timedelta(hours=1))
    assert poller.next_wait(TickResult(leader=True, entries=20), 0.1) == pytest.approx(0.15)
    assert poller.next_wait(TickResult(leader=True, entries=20), 0.4) == 0.0


def test_an_overdue_entry_it_could_not_claim_does_not_make_it_spin(make):
    assert make(NOW - timedelta(seconds=5)).next_wait(TickResult(leader=True), 0.01) == 0.25


def test_only_a_due_time_before_the_planned_tick_wakes_it(make):
    poller = make(None)
    woken: list[int] = []
    poller.wake = lambda: woken.append(1)
    poller._wake_at = NOW.timestamp() + 3.0
    poller.notified(str(NOW.timestamp() + 10))
    assert woken == []
    poller.notified(str(NOW.timestamp() + 1))
    poller.notified("")  # unknown (the listener reconnected): look now
    poller.notified("garbage")
    assert len(woken) == 3


def test_a_tick_plans_its_wake_up_and_any_notification_during_it_wakes_the_next(make, monkeypatch):
    poller = make(NOW + timedelta(seconds=2))
    seen_during_tick: list[float] = []

    def tick() -> TickResult:
        seen_during_tick.append(poller._wake_at)
        return TickResult(leader=True)

    monkeypatch.setattr(poller, "tick", tick)
    assert poller.run_once() == pytest.approx(2.0)
    assert seen_during_tick == [float("inf")]
    assert poller._wake_at == pytest.approx(NOW.timestamp() + 2.0)
