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
from tests.openapi_conformance import assert_documented

REPO = Path(__file__).resolve().parents[1]
AMQP_URL = os.environ.get("TEST_AMQP_URL", DEFAULT_AMQP_URL)
PG_ROOT = os.environ.get("TEST_PG_ROOT", DEFAULT_PG_ROOT)
# Every run names its databases touchpoint_test_<run>_<name>, so two suites on one machine (two
# checkouts, CI beside a developer) never drop each other's databases.
# Under pytest-xdist each worker process is a run of its own (the tag carries the worker id), since
# each drops its databases when its session ends, while the other may still use its own.
RUN_TAG = (os.environ.get("TOUCHPOINT_TEST_RUN") or f"r{os.getpid()}") + os.environ.get("PYTEST_XDIST_WORKER", "")
DATABASE_PREFIX = f"touchpoint_test_{RUN_TAG}_"


def test_database_url(name: str) -> str:
    """URL of a throwaway test database of this run."""
    return f"{PG_ROOT}/{DATABASE_PREFIX}{name}"


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


class ServiceHarness:
    """One service under test: a fresh migrated database, its app, and its worker on a test namespace.

    `client` sends requests with the key of a role: `harness.post("/contacts", json=..., role="marketer")`.
    """

    def __init__(self, definition, namespace: str, auth_database_url: str, api_keys: dict[str, str],
                 amqp_url: str = AMQP_URL, database_name: str | None = None, extra_env: dict | None = None) -> None:
        from shared.config import Settings
        from shared.db.engine import make_engine

        self.definition = definition
        self.database_url = fresh_database(database_name or definition.name, definition.migrations_dir)
        self.settings = Settings(service=definition.name, database_url=self.database_url,
                                 auth_database_url=auth_database_url, amqp_url=amqp_url, namespace=namespace,
                                 webhook_secret="test-webhook-secret", extra=dict(extra_env or {}))
        self.engine = make_engine(self.database_url)
        self.api_keys = api_keys
        self._app = None
        self.worker = None

    @property
    def app(self):
        """The Flask app, built on first use."""
        if self._app is None:
            self._app = self.definition.create_app(self.settings)
            self._app.testing = True
        return self._app

    def request(self, method: str, path: str, role: str | None = "operator", **kwargs):
        """Send a request through the test client with the key of `role` (None: no key)."""
        headers = dict(kwargs.pop("headers", {}) or {})
        if role is not None:
            headers["X-API-Key"] = self.api_keys[role]
        answer = self.app.test_client().open(path, method=method, headers=headers, **kwargs)
        assert_documented(self.app, self.api_keys["operator"], method, path, answer.status_code)
        return answer

    def get(self, path: str, **kwargs):
        """GET with a role's key."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        """POST with a role's key."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs):
        """PUT with a role's key."""
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs):
        """PATCH with a role's key."""
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs):
        """DELETE with a role's key."""
        return self.request("DELETE", path, **kwargs)

    def start_worker(self, **kwargs):
        """Start consumers, outbox relay and background tasks in threads; wait until consuming."""
        from shared.runtime import Worker

        self.worker = Worker(self.definition, self.settings, self.engine, **kwargs)
        self.worker.start()
        if self.worker.runner is not None:
            wait_for(self.worker.runner.connected.is_set, timeout=20, message=f"{self.definition.name} consumers")
        return self.worker

    def stop_worker(self) -> None:
        """Stop the worker if running."""
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def close(self) -> None:
        """Stop everything and release connections (the app's own engines too: pooled connections of
        a finished module would otherwise stay open until garbage collection, and two test processes
        of such leftovers exhaust PostgreSQL's 100 connections)."""
        from shared.http.context import EXTENSION

        self.stop_worker()
        self.engine.dispose()
        if self._app is not None:
            context = self._app.extensions.get(EXTENSION)
            if context is not None:
                context.engine.dispose()
                context.keys.engine.dispose()


def delete_namespace(namespace: str, amqp_url: str = AMQP_URL) -> None:
    """Delete the queues and exchanges (listed by rabbitmqctl) of one throwaway broker namespace."""
    import subprocess

    assert namespace.startswith(("tp", "test")), f"refusing to delete namespace {namespace!r}"

    def listed(what: str) -> list[str]:
        out = subprocess.run(["rabbitmqctl", "-q", what, "name"], capture_output=True, text=True, timeout=60).stdout
        return [name for name in out.split() if name.startswith(namespace + ".")]

    queues, exchanges = listed("list_queues"), listed("list_exchanges")
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        for name in queues:
            channel.queue_delete(name)
        for name in exchanges:
            channel.exchange_delete(name)
    finally:
        connection.close()
