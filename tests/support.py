"""Helpers for tests that talk to the real RabbitMQ and PostgreSQL (imported as `tests.support`)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pika

from shared.config import DEFAULT_AMQP_URL, DEFAULT_PG_ROOT
from shared.db.engine import create_database_if_missing, drop_database
from shared.db.migrate import migrate

REPO = Path(__file__).resolve().parents[1]
AMQP_URL = os.environ.get("TEST_AMQP_URL", DEFAULT_AMQP_URL)
PG_ROOT = os.environ.get("TEST_PG_ROOT", DEFAULT_PG_ROOT)


def test_database_url(name: str) -> str:
    """URL of a throwaway test database."""
    return f"{PG_ROOT}/touchpoint_test_{name}"


def fresh_database(name: str, migrations_dir: Path | None = None) -> str:
    """Drop and recreate a test database, migrate it if a migrations folder is given; return its URL."""
    url = test_database_url(name)
    drop_database(url)
    create_database_if_missing(url)
    if migrations_dir is not None:
        migrate(migrations_dir, url)
    return url


def unique_namespace(prefix: str = "tptest") -> str:
    """A broker namespace no other test run uses."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def wait_for(predicate: Callable[[], object], timeout: float = 15.0, interval: float = 0.05,
             message: str = "condition") -> object:
    """Poll until `predicate()` is truthy; fail the test after `timeout` seconds (a bound, not a measure)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(interval)


def drain_queue(queue: str, amqp_url: str = AMQP_URL) -> list[tuple[pika.BasicProperties, bytes]]:
    """Take every message currently in a queue (acking them)."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        taken = []
        while True:
            method, props, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return taken
            taken.append((props, body))
    finally:
        connection.close()


def queue_depth(queue: str, amqp_url: str = AMQP_URL) -> int:
    """Ready messages in a queue."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()
