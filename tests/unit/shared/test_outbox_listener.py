"""The relay's LISTEN connection: a failure is logged (once per outage, with its traceback), not swallowed."""

from __future__ import annotations

import logging

import pytest

from shared.messaging.outbox import _Listener


class FakeConnection:
    closed = False

    def notifies(self, timeout: float, stop_after: int | None = None):
        return iter(())

    def close(self) -> None:
        self.closed = True


def test_a_broken_listen_is_logged_once_then_its_recovery(monkeypatch, caplog: pytest.LogCaptureFixture) -> None:
    listener = _Listener(engine=None)
    slept: list[float] = []

    def refuse():
        raise OSError("connection refused")

    monkeypatch.setattr(listener, "_connect", refuse)
    with caplog.at_level(logging.INFO, logger="shared.messaging.outbox"):
        for _ in range(3):
            listener.wait(0.5, slept.append)
        monkeypatch.setattr(listener, "_connect", FakeConnection)
        listener.wait(0.5, slept.append)
    assert slept == [0.05, 0.05, 0.05]  # polled while LISTEN was away
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].exc_info is not None
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == ["outbox LISTEN reconnected"]


class NotifyingConnection(FakeConnection):
    def __init__(self, pending: list[str]) -> None:
        self.pending = pending  # notifications not yet read

    def notifies(self, timeout: float, stop_after: int | None = None):
        taken = self.pending[:stop_after] if stop_after else list(self.pending)
        del self.pending[:len(taken)]
        return iter(taken)


def test_wait_says_whether_work_was_announced_so_the_relay_knows_a_fallback_wake_up() -> None:
    listener = _Listener(engine=None)
    connection = NotifyingConnection([])
    listener._conn = connection
    assert listener.wait(0.0, lambda s: False) is False  # timed out: the fallback (keepalive) wake-up
    connection.pending.extend(["n1", "n2", "n3"])
    assert listener.wait(10.0, lambda s: False) is True  # a notification...
    assert connection.pending == []  # ...and the burst drained with it
    assert listener.wait(10.0, lambda s: False, stopping=lambda: True) is False  # a stopping relay does not wait
    listener._conn = None
    listener._connect = lambda: NotifyingConnection([])
    assert listener.wait(10.0, lambda s: False) is True  # freshly listening: look at the table at once
