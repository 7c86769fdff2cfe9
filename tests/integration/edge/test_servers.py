"""The servers in front of the apps: long filters get through, and what they refuse is a problem body.

gunicorn runs exactly as `scripts/up`, docker-compose and the Dockerfile run it (with
shared.http.gunicorn_conf); the development server as `python -m services.<name> api` runs it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from urllib.parse import quote

import pytest
import requests
from werkzeug.serving import make_server

from shared.http.guard import MAX_TARGET_BYTES
from shared.http.serving import ProblemRequestHandler
from tests.integration.edge.test_hostile_input import long_filter
from tests.support import REPO, wait_for

pytestmark = pytest.mark.integration


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raw_request(port: int, target: str) -> tuple[int, dict[str, str], bytes]:
    """Send `GET target` over a plain socket (no client library shortens or checks it); return the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


@pytest.fixture(scope="module")
def gunicorn_contacts(edge_services):
    """The contacts API under gunicorn with the shared config, on the edge tests' database."""
    harness = edge_services["contacts"]
    port = free_port()
    env = {**os.environ, "CONTACTS_DATABASE_URL": harness.database_url, "PYTHONPATH": str(REPO),
           "AUTH_DATABASE_URL": harness.settings.auth_database_url, "AMQP_URL": harness.settings.amqp_url,
           "TOUCHPOINT_NAMESPACE": harness.settings.namespace, "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:shared.http.gunicorn_conf",
                                "--workers", "1", "--bind", f"127.0.0.1:{port}", "services.contacts:create_app()"],
                               cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/livez", timeout=10).status_code == 200
        except requests.RequestException:  # not listening yet, or still importing under load
            return False

    try:
        wait_for(up, timeout=120, interval=0.2, message="gunicorn contacts API")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_gunicorn_answers_a_4000_character_filter(gunicorn_contacts, api_keys):
    answer = requests.get(f"http://127.0.0.1:{gunicorn_contacts}/contacts", params={"where": long_filter()},
                          headers={"X-API-Key": api_keys["marketer"]}, timeout=30)
    assert len(answer.request.url) > 4094  # longer than gunicorn's default request line
    assert answer.status_code == 200, answer.text[:300]


def test_gunicorn_and_app_answer_overlong_targets_with_a_problem(gunicorn_contacts):
    for length in (MAX_TARGET_BYTES + 1, 8_190, 20_000):  # the app's limit, gunicorn's line limit, far beyond
        target = "/contacts?where=" + quote("a" * (length - len("/contacts?where=")))
        status, headers, body = raw_request(gunicorn_contacts, target)
        assert status == 414, body[:300]
        assert headers["content-type"].startswith("application/problem+json"), headers
        assert b'"status": 414' in body or b'"status":414' in body


def test_the_development_server_answers_its_own_errors_with_a_problem(edge_services):
    server = make_server("127.0.0.1", 0, edge_services["contacts"].app, threaded=True,
                         request_handler=ProblemRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        status, headers, body = raw_request(server.server_port, "/contacts?where=" + "a" * 70_000)
        assert status == 414 and headers["content-type"] == "application/problem+json", body[:300]
        status, headers, body = raw_request(server.server_port, "/contacts?where=" + "a" * 9_000)
        assert status == 414 and headers["content-type"] == "application/problem+json", body[:300]
    finally:
        server.shutdown()
        server.server_close()
