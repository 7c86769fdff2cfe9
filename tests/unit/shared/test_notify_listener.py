"""The NOTIFY listener: while LISTEN is down every task is told to look (empty payload) each retry,
a callback's bug does not end the listening, and channel names are checked before they reach SQL."""

from __future__ import annotations

import threading

import pytest

from shared.messaging.listen import NotifyListener


def test_while_the_connection_is_down_every_callback_is_called_each_retry() -> None:
    calls: list[str] = []
    listener = NotifyListener(engine=None, callbacks={"a": calls.append}, retry_seconds=0.0)
    attempts: list[int] = []

    def refuse() -> None:
        attempts.append(1)
        if len(attempts) == 3:
            listener.stop()
        raise OSError("database restarting")

    listener._listen = refuse
    thread = threading.Thread(target=listener.run)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    assert calls == ["", "", ""]  # one "look now" per failed attempt


def test_a_failing_callback_does_not_stop_the_others() -> None:
    seen: list[str] = []

    def broken(payload: str) -> None:
        raise RuntimeError("bug")

    listener = NotifyListener(engine=None, callbacks={"a": broken, "b": seen.append})
    listener._call("a", "1")
    listener._call("b", "2")
    listener._call("unknown", "3")
    assert seen == ["2"]


def test_channel_names_must_be_plain_identifiers() -> None:
    with pytest.raises(ValueError):
        NotifyListener(engine=None, callbacks={"x; DROP TABLE outbox": print})
