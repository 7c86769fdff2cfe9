"""The scheduler's poll loop runs on the shared PeriodicTask: a failed tick is logged with its
traceback and retried with backoff, and stopping gives up the leadership. No database: the tick and
the leader lock are stand-ins."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from services.scheduler.poller import DuePoller
from shared.clock import ManualClock


class FakeLeader:
    idle_timeout_s = 10.0

    def __init__(self) -> None:
        self.released = False

    def ensure(self) -> bool:
        return True

    def release(self) -> None:
        self.released = True


def test_a_failing_tick_backs_off_and_stopping_releases_the_lock(monkeypatch, caplog: pytest.LogCaptureFixture):
    leader = FakeLeader()
    poller = DuePoller(None, ManualClock(datetime(2026, 6, 1, tzinfo=UTC)), leader, interval_s=0.25)
    calls = []

    def tick():
        calls.append(1)
        if len(calls) == 3:
            poller.stop()
        raise RuntimeError("database restarting")

    monkeypatch.setattr(poller, "tick", tick)
    waits: list[float] = []
    monkeypatch.setattr(poller, "wait", lambda seconds: waits.append(seconds) or poller.stopping)
    with caplog.at_level(logging.ERROR, logger="services.scheduler.poller"):
        poller.run()
    assert waits == [0.25, 0.5, 1.0]  # backoff from the interval, doubling (up to 5 s)
    assert len([r for r in caplog.records if r.exc_info]) == 3
    assert leader.released
