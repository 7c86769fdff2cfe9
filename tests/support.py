"""Helpers for tests that talk to the real RabbitMQ and PostgreSQL (imported as `tests.support`)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pika

from shared.config import DEFAULT_AMQP_URL, DEFAULT_PG_ROOT
from shared.db.engine import create_database_if_missing, drop_database
from shared.db.migrate import migrate
from tests.openapi_conformance import assert_documented

REPO = Path(__file__).resolve().parents[1]
# The broker's URL; tests never use its vhost: each test module gets a vhost of its own (below).
AMQP_URL = os.environ.get("TEST_AMQP_URL", DEFAULT_AMQP_URL)
MANAGEMENT_URL = os.environ.get("TEST_RABBITMQ_MANAGEMENT_URL", "http://127.0.0.1:15672")
PG_ROOT = os.environ.get("TEST_PG_ROOT", DEFAULT_PG_ROOT)
# Every harness signs and verifies one-click unsubscribe tokens with this (shared.unsubscribe).
UNSUBSCRIBE_SECRET = "test-unsubscribe-secret"
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


def amqp_url_for(vhost: str, base: str = AMQP_URL) -> str:
    """`base` pointing at another vhost (the URL's path, percent-encoded: `/` is `%2F`)."""
    return urlunsplit(urlsplit(base)._replace(path="/" + quote(vhost, safe="")))


class BrokerAdmin:
    """Creates and deletes vhosts through RabbitMQ's management API, or `rabbitmqctl` where it is not served.

    `scripts/test` enables the management plugin (scripts/lib.sh `ensure_rabbitmq test`); the
    fallback keeps a broker without it usable, at a second or two per call (rabbitmqctl boots a VM).
    """

    def __init__(self, amqp_url: str = AMQP_URL, management_url: str = MANAGEMENT_URL) -> None:
        parts = urlsplit(amqp_url)
        self.user = unquote(parts.username or "guest")
        self._auth = base64.b64encode(f"{self.user}:{unquote(parts.password or 'guest')}".encode()).decode()
        self.management_url = management_url.rstrip("/")

    def _api(self, method: str, path: str, body: object = None) -> tuple[bool, object]:
        """(True, answer) from the management API; (False, None) when nothing serves it (or not yet:
        a broker that has just restarted answers AMQP before HTTP)."""
        request = urllib.request.Request(
            f"{self.management_url}/api/{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Basic {self._auth}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                text = answer.read()
                return True, json.loads(text) if text else None
        except urllib.error.HTTPError as exc:
            if method == "DELETE" and exc.code == 404:
                return True, None  # already gone
            if exc.code >= 500:
                return False, None
            raise
        except (urllib.error.URLError, OSError):
            return False, None

    def _ctl(self, *argv: str, check: bool = True) -> str:
        return subprocess.run(["rabbitmqctl", "-q", *argv], capture_output=True, text=True, timeout=120,
                              check=check).stdout

    def create_vhost(self, vhost: str) -> None:
        """Create a vhost (if absent) and give our user every permission on it."""
        name = quote(vhost, safe="")
        permissions = {"configure": ".*", "write": ".*", "read": ".*"}
        if not self._api("PUT", f"vhosts/{name}", {})[0] and vhost not in self.vhosts():
            self._ctl("add_vhost", vhost)
        if not self._api("PUT", f"permissions/{name}/{quote(self.user, safe='')}", permissions)[0]:
            self._ctl("set_permissions", "-p", vhost, self.user, ".*", ".*", ".*")

    def delete_vhost(self, vhost: str) -> None:
        """Delete a vhost with everything in it (queues, exchanges, messages); an absent one is fine."""
        if not self._api("DELETE", f"vhosts/{quote(vhost, safe='')}")[0]:
            self._ctl("delete_vhost", vhost, check=False)

    def vhosts(self) -> list[str]:
        """The names of all vhosts."""
        served, answer = self._api("GET", "vhosts?columns=name")
        if served:
            return [entry["name"] for entry in answer]
        return self._ctl("list_vhosts", "name").split()


_active_urls: list[str] = []
# Vhosts this process created and has not deleted yet (the session's end deletes what a module could not).
undeleted_vhosts: set[str] = set()


def current_amqp_url() -> str:
    """The AMQP URL of the vhost of the test module running now (what helpers use by default)."""
    if not _active_urls:
        raise RuntimeError("no test vhost is open: ask for the amqp_url fixture (or open broker_vhost())")
    return _active_urls[-1]


@contextmanager
def broker_vhost(name: str, *, current: bool = True) -> Iterator[str]:
    """A vhost `touchpoint_test_<run>_<name>` for the block; yields its AMQP URL and deletes the vhost after.

    A vhost holds its own exchanges and queues, so what one test module declares, leaves behind or
    dead-letters never meets another's, and deleting it removes all of that in one call. `current`
    makes it what `current_amqp_url()` answers inside the block (a module's vhost); a session-wide
    system passes its URL explicitly instead.
    """
    vhost = DATABASE_PREFIX + name
    admin = BrokerAdmin()
    undeleted_vhosts.add(vhost)
    admin.create_vhost(vhost)
    url = amqp_url_for(vhost)
    if current:
        _active_urls.append(url)
    try:
        yield url
    finally:
        if current:
            _active_urls.remove(url)
        admin.delete_vhost(vhost)
        undeleted_vhosts.discard(vhost)


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


def drain_queue(queue: str, amqp_url: str | None = None) -> list[tuple[pika.BasicProperties, bytes]]:
    """Take every message currently in a queue (acking them); the module's vhost unless told."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url or current_amqp_url()))
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


def queue_depth(queue: str, amqp_url: str | None = None) -> int:
    """Ready messages in a queue; the module's vhost unless told."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url or current_amqp_url()))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()


class SmtpSink:
    """aiosmtpd handler keeping every message (envelope) it receives.

    `refuse_once(address, reply)` makes the next RCPT TO that address answer `reply` (e.g. a 451
    greylisting refusal) instead of 250; later ones are accepted again.
    """

    def __init__(self) -> None:
        self.envelopes: list[Any] = []
        self.lock = threading.Lock()
        self.refusals: dict[str, str] = {}

    def refuse_once(self, address: str, reply: str) -> None:
        """Answer the next RCPT TO `address` with `reply`."""
        with self.lock:
            self.refusals[address.lower()] = reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:  # noqa: N802
        with self.lock:
            refusal = self.refusals.pop(address.lower(), None)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802  (aiosmtpd hook name)
        with self.lock:
            self.envelopes.append(envelope)
        return "250 OK"

    def to(self, address: str) -> list[Any]:
        """Envelopes addressed to `address`."""
        with self.lock:
            return [e for e in self.envelopes if address.lower() in (r.lower() for r in e.rcpt_tos)]


class SmsGateway:
    """A loopback HTTP server standing in for an SMS gateway (or a webhook receiver), for every test.

    Each POST is recorded as it arrives (`requests`: headers and raw body), answered with the next of
    `statuses` (then 200) and `{"id": "gw-<n>"}`, n counting arrivals. `hold()` keeps the requests
    that arrive waiting until `release()` (a stuck provider); `holding` and `peak` count requests
    inside the gateway now and at most, `answered` holds the JSON bodies answered so far. It speaks
    HTTP/1.1 keep-alive, as real gateways do.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []  # answers to give before answering 200
        self.answered: list[dict[str, Any]] = []
        self.holding = 0
        self.peak = 0
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802  (http.server hook name)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with gateway._lock:
                    gateway.requests.append((dict(self.headers.items()), raw))
                    number = len(gateway.requests)
                    status = gateway.statuses.pop(0) if gateway.statuses else 200
                    gateway.holding += 1
                    gateway.peak = max(gateway.peak, gateway.holding)
                gateway._open.wait(30)  # a bound: a test that forgets release() fails, it does not hang
                with gateway._lock:
                    gateway.holding -= 1
                    gateway.answered.append(json.loads(raw or b"{}"))
                answer = json.dumps({"id": f"gw-{number}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/messages"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def hold(self) -> None:
        """Keep every request that arrives from now on waiting for `release()`."""
        self._open.clear()

    def release(self) -> None:
        """Answer the held requests, and the following ones at once."""
        self._open.set()

    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies received so far, in arrival order."""
        with self._lock:
            return [json.loads(raw or b"{}") for _, raw in self.requests]

    def to(self, phone: str) -> list[dict[str, Any]]:
        """The bodies of the SMS sent to `phone`."""
        return [body for body in self.bodies() if body.get("to") == phone]

    def close(self) -> None:
        """Release what is held and stop serving."""
        self.release()
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def served(app) -> Iterator[str]:
    """A WSGI app served on a free loopback port in a thread (for clients that need a URL: the CLI, a
    service calling another); yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


class ServiceHarness:
    """One service under test: a fresh migrated database, its app, and its worker on a test namespace
    (in the test module's vhost unless `amqp_url` says otherwise).

    `client` sends requests with the key of a role: `harness.post("/contacts", json=..., role="marketer")`.
    """

    def __init__(self, definition, namespace: str, auth_database_url: str, api_keys: dict[str, str],
                 amqp_url: str | None = None, database_name: str | None = None, extra_env: dict | None = None) -> None:
        from shared.config import Settings
        from shared.db.engine import make_engine

        self.definition = definition
        self.database_url = fresh_database(database_name or definition.name, definition.migrations_dir)
        self.settings = Settings(service=definition.name, database_url=self.database_url,
                                 auth_database_url=auth_database_url, amqp_url=amqp_url or current_amqp_url(),
                                 namespace=namespace,
                                 webhook_secret="test-webhook-secret", unsubscribe_secrets=(UNSUBSCRIBE_SECRET,),
                                 extra=dict(extra_env or {}))
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
