"""Leader election: a PostgreSQL session-level advisory lock held on a dedicated connection.

Exactly one scheduler replica holds the lock and fires; the others poll for it every second.
A leader that dies (crash, SIGKILL, lost network) loses its session and PostgreSQL releases the
lock at once. A leader that hangs without dying keeps its session open, so the lock connection
sets `idle_session_timeout`: a live leader touches the connection every tick, a hung one goes
idle and the server ends its session (and the lock) after that many seconds. Firing itself
claims rows with `FOR UPDATE SKIP LOCKED` and only `state = 'pending'`, so even two leaders by
mistake never publish the same entry twice.
"""

from __future__ import annotations

import logging
import os
import socket

import psycopg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

# The two 32-bit halves of the lock key: (class, object). Any constant unique in this database.
LOCK_CLASS = 0x5C4E_D0
LOCK_OBJECT = 1


def replica_identity() -> str:
    """A name for this process that operators can recognise: host and pid."""
    return f"scheduler@{socket.gethostname()}:{os.getpid()}"


def libpq_url(database_url: str) -> str:
    """The SQLAlchemy URL as a plain libpq URI for psycopg."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class LeaderLock:
    """Holds (or tries to hold) the scheduler's advisory lock on a connection of its own."""

    def __init__(self, database_url: str, identity: str | None = None, idle_timeout_s: float = 10.0) -> None:
        self.database_url = database_url
        self.identity = identity or replica_identity()
        self.idle_timeout_s = idle_timeout_s
        self._conn: psycopg.Connection | None = None
        self.is_leader = False

    def _connect(self) -> psycopg.Connection:
        conn = psycopg.connect(libpq_url(self.database_url), autocommit=True, connect_timeout=5,
                               application_name=self.identity[:63])
        conn.execute(f"SET idle_session_timeout = '{int(self.idle_timeout_s * 1000)}ms'")
        return conn

    def ensure(self) -> bool:
        """Keep leadership if held (and touch the session), else try to take it; return whether we lead."""
        try:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
                self.is_leader = False
            if self.is_leader:
                held = self._conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s"
                    " AND pid = pg_backend_pid() AND granted", (LOCK_CLASS, LOCK_OBJECT)).fetchone()[0]
                if not held:
                    log.warning("scheduler leadership lost", extra={"identity": self.identity})
                    self.is_leader = False
            if not self.is_leader:
                got = self._conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, LOCK_OBJECT)).fetchone()[0]
                if got:
                    log.info("scheduler leadership acquired", extra={"identity": self.identity})
                self.is_leader = bool(got)
        except psycopg.Error as exc:
            # The session is gone (killed, timed out, database restarted): so is the lock.
            if self.is_leader:
                log.warning("scheduler leadership lost with its session", extra={"error": str(exc)})
            self.is_leader = False
            self._close()
        return self.is_leader

    def release(self) -> None:
        """Give up leadership and close the lock connection."""
        if self._conn is not None and not self._conn.closed and self.is_leader:
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, LOCK_OBJECT))
            except psycopg.Error:
                log.debug("unlock failed; closing the session releases the lock anyway", exc_info=True)
        self.is_leader = False
        self._close()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                log.debug("closing the lock connection failed", exc_info=True)
