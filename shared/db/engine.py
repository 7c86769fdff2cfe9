"""Engines and database creation."""

from __future__ import annotations

import os
import time

import psycopg
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url


def make_engine(url: str, pool_size: int = 10, pre_ping: bool = True, **kwargs: object) -> Engine:
    """Create an engine with pre-ping, so a restarted PostgreSQL costs one retry, not a 500.

    `pre_ping=False` is for workers: the ping is a round trip before every transaction (one in
    eight of a contact event's in the campaigns worker, one in five of a relay pass), and their
    loops already survive a dead connection: the first statement fails before anything was done,
    SQLAlchemy discards the pool's connections, and the consumer requeues the batch (the relay and
    background tasks retry after a backoff).

    TOUCHPOINT_DB_POOL_SIZE, when set, caps the connections an engine keeps open between uses
    (busier moments still open up to 10 more, closed when returned): many processes on one server,
    as in the test suite's whole-system runs, then stay within PostgreSQL's max_connections.
    """
    cap = os.environ.get("TOUCHPOINT_DB_POOL_SIZE")
    if cap:
        pool_size = min(pool_size, max(1, int(cap)))
    return create_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=pre_ping, future=True, **kwargs)


def _libpq_params(url: str, database: str | None = None) -> dict[str, object]:
    parsed = make_url(url)
    return {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": parsed.username or "postgres",
        "password": parsed.password,
        "dbname": database or parsed.database,
    }


def create_database_if_missing(url: str) -> bool:
    """Create the database named in `url` when it does not exist; return whether it was created."""
    name = make_url(url).database
    params = {k: v for k, v in _libpq_params(url, "postgres").items() if v is not None}
    with psycopg.connect(**params, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        conn.execute(f'CREATE DATABASE "{name}"')  # name comes from our own config, quoted
        return True


def drop_database(url: str) -> None:
    """Drop the database named in `url` (tests only), closing its other connections first."""
    name = make_url(url).database
    params = {k: v for k, v in _libpq_params(url, "postgres").items() if v is not None}
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_for_database(engine: Engine, timeout: float = 30.0) -> None:
    """Block until the database answers, or raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
