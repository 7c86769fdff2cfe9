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
