"""A small thread-safe pool of provider connections (the SMTP adapter's, or any adapter's that needs one).

Up to `size` connections exist at once; `take` hands out an idle one (the most recently used, so a
quiet channel keeps few connections warm) or opens a new one, and blocks while all `size` are out.
A connection idle longer than `check_after` seconds is checked (`check`, e.g. SMTP NOOP) before it is
handed out again, because servers drop idle clients (postfix after 300 s); one that fails the check
is closed and replaced. The caller gives a connection back healthy (`give_back`) or broken
(`discard`); `discard_idle` drops every idle one at once (after a provider restart they are all
dead). `close` closes the idle ones and makes every later give-back close its connection.

No I/O happens under the pool's lock: connecting, checking and closing run outside it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PoolClosed(RuntimeError):
    """The pool was closed: no more connections are handed out."""


class ConnectionPool(Generic[T]):
    """At most `size` connections made by `connect`, reused most-recently-used first."""

    def __init__(self, connect: Callable[[], T], close: Callable[[T], None], size: int,
                 check: Callable[[T], bool] | None = None, check_after: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self._connect = connect
        self._close = close
        self._check = check
        self.size = size
        self.check_after = check_after
        self._clock = clock
        self._idle: list[tuple[T, float]] = []  # (connection, when it was given back); the end is the newest
        self._out = 0  # connections handed out (or being opened) right now
        self._closed = False
        self._cond = threading.Condition()
        self.opened = 0  # connections opened so far (metrics and tests)

    def take(self, timeout: float | None = None) -> T:
        """An idle connection or a new one; waits (up to `timeout`, then TimeoutError) while all are out."""
        while True:
            with self._cond:
                if not self._cond.wait_for(lambda: self._closed or self._idle or self._out < self.size, timeout):
                    raise TimeoutError(f"all {self.size} connections in use")
                if self._closed:
                    raise PoolClosed("connection pool closed")
                self._out += 1
                conn, since = self._idle.pop() if self._idle else (None, 0.0)
            if conn is None:
                try:
                    conn = self._connect()
                except BaseException:
                    self._release_slot()
                    raise
                with self._cond:
                    self.opened += 1
                return conn
            if self._check is None or self._clock() - since < self.check_after or self._healthy(conn):
                return conn
            self._discard_quietly(conn)  # stale: close it and go round for another (or a new one)

    def give_back(self, conn: T) -> None:
        """Return a healthy connection for reuse."""
        with self._cond:
            self._out -= 1
            if not self._closed:
                self._idle.append((conn, self._clock()))
                self._cond.notify()
                return
            self._cond.notify()
        self._safe_close(conn)

    def discard(self, conn: T) -> None:
        """Close a broken connection; its slot is free for a new one."""
        self._discard_quietly(conn)

    def discard_idle(self) -> int:
        """Close every idle connection (the provider went away, they are all dead); returns how many."""
        with self._cond:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            self._safe_close(conn)
        return len(idle)

    def close(self) -> None:
        """Close the idle connections; connections still out are closed when they come back."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.discard_idle()

    @property
    def in_use(self) -> int:
        """Connections handed out right now."""
        with self._cond:
            return self._out

    @property
    def idle(self) -> int:
        """Connections waiting for reuse."""
        with self._cond:
            return len(self._idle)

    def _healthy(self, conn: T) -> bool:
        try:
            return bool(self._check(conn)) if self._check else True
        except Exception:  # a failing check means a dead connection, nothing more
            return False

    def _discard_quietly(self, conn: T) -> None:
        self._release_slot()
        self._safe_close(conn)

    def _release_slot(self) -> None:
        with self._cond:
            self._out -= 1
            self._cond.notify()

    def _safe_close(self, conn: T) -> None:
        with contextlib.suppress(Exception):  # closing a dead connection may fail; it is gone either way
            self._close(conn)
