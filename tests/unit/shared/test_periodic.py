"""The one periodic-task runner: waits, backoff after failures, the traceback logged, stopping."""

from __future__ import annotations

import logging
import threading

import pytest

from shared.periodic import Backoff, PeriodicTask


def test_backoff_doubles_up_to_the_maximum_and_resets() -> None:
    backoff = Backoff(0.5, 3.0)
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next() == 0.5
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)


def test_the_step_chooses_the_wait_none_meaning_the_interval() -> None:
    answers = iter([None, 0.0, 7.0])
    task = PeriodicTask("t", lambda: next(answers), interval=5.0)
    assert [task.run_once() for _ in range(3)] == [5.0, 0.0, 7.0]


def test_a_failing_step_is_logged_with_its_traceback_and_backs_off(caplog: pytest.LogCaptureFixture) -> None:
    outcomes = iter([RuntimeError("db down"), RuntimeError("db down"), None, RuntimeError("again")])
    errors: list[Exception] = []

    def step() -> None:
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome

    task = PeriodicTask("sweeper", step, interval=1.0, first_backoff=2.0, max_backoff=3.0,
                        on_error=errors.append)
    with caplog.at_level(logging.ERROR, logger="shared.periodic"):
        waits = [task.run_once() for _ in range(4)]
    assert waits == [2.0, 3.0, 1.0, 2.0]  # the success in between reset the backoff
    assert [str(e) for e in errors] == ["db down", "db down", "again"]
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 3
    assert all(r.exc_info is not None and "sweeper failed" in r.getMessage() for r in failures)


def test_fixed_rate_subtracts_the_time_the_step_took() -> None:
    ticks = iter([10.0, 10.3, 20.0, 21.0])
    task = PeriodicTask("poll", lambda: None, interval=0.5, fixed_rate=True, monotonic=lambda: next(ticks))
    assert task.run_once() == pytest.approx(0.2)
    assert task.run_once() == 0.0  # a step longer than the interval: the next one starts at once


def test_run_steps_until_stopped_then_calls_on_stop() -> None:
    calls: list[int] = []
    stopped = threading.Event()
    task: PeriodicTask

    def step() -> float:
        calls.append(1)
        if len(calls) == 3:
            task.stop()
        return 0.0

    task = PeriodicTask("t", step, interval=60.0, on_stop=stopped.set)
    task.run()  # returns without waiting 60 s: stop() wakes the wait
    assert len(calls) == 3 and stopped.is_set() and task.stopping


def test_stop_wakes_a_long_wait() -> None:
    task = PeriodicTask("t", lambda: None, interval=3600.0)
    thread = threading.Thread(target=task.run)
    thread.start()
    task.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_wake_ends_a_long_wait_and_the_step_runs_again() -> None:
    calls: list[int] = []
    ran = threading.Event()
    task: PeriodicTask

    def step() -> None:
        calls.append(1)
        ran.set()

    task = PeriodicTask("t", step, interval=3600.0)
    thread = threading.Thread(target=task.run)
    thread.start()
    try:
        assert ran.wait(10)
        ran.clear()
        task.wake()  # without it the next step would come in an hour
        assert ran.wait(10)
        assert len(calls) == 2
    finally:
        task.stop()
        thread.join(10)
    assert not thread.is_alive()


def test_a_wake_during_the_step_is_not_lost() -> None:
    task = PeriodicTask("t", lambda: None, interval=3600.0)
    task.wake()  # as if a notification arrived while the step ran
    assert task.wait(3600.0) is False  # returns at once, not stopping
    task.stop()
    assert task.wait(3600.0) is True
