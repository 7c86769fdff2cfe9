"""The whole system as real processes, for end-to-end and fault tests (imported as `tests.system`).

Every service runs its API (gunicorn) and its worker as subprocesses against fresh databases and
the broker URL given (a vhost of its own in the tests); tests talk to them only through their public
HTTP APIs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.support import REPO, fresh_database, wait_for

SERVICES = ("contacts", "campaigns", "channels", "scheduler")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Process:
    """One supervised child process."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen | None = None

    def start(self) -> None:
        """Start (or restart) the process, appending to its log."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        self.popen = subprocess.Popen(self.command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the process group (SIGKILL: no cleanup at all)."""
        if self.popen and self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)
            self.popen.wait(30)

    @property
    def alive(self) -> bool:
        """Whether it still runs."""
        return self.popen is not None and self.popen.poll() is None


@dataclass
class System:
    """All four services, their URLs and keys."""

    namespace: str
    keys: dict[str, str]
    env: dict[str, str]
    log_dir: Path
    urls: dict[str, str] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)

    def session(self, role: str = "operator") -> requests.Session:
        """An HTTP session carrying the key of `role`."""
        session = requests.Session()
        session.headers["X-API-Key"] = self.keys[role]
        return session

    @property
    def amqp_url(self) -> str:
        """The broker URL (and vhost) every process uses."""
        return self.env["AMQP_URL"]

    def url(self, service: str, path: str) -> str:
        """Absolute URL of a service path."""
        return self.urls[service] + path

    def start(self) -> None:
        """Start every API and worker and wait for their health checks."""
        for process in self.processes.values():
            process.start()
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 60) -> None:
        """Wait until every API answers /healthz with 200."""
        for service, base in self.urls.items():
            def healthy(base: str = base) -> bool:
                try:
                    return requests.get(base + "/healthz", timeout=2).status_code == 200
                except requests.RequestException:
                    return False

            wait_for(healthy, timeout=timeout, interval=0.2, message=f"{service} to be healthy")

    def restart(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill a process (default: kill -9) and start it again."""
        self.processes[name].kill(sig)
        self.processes[name].start()

    def stop(self) -> None:
        """Stop every process gracefully, then hard."""
        for process in self.processes.values():
            if process.alive:
                os.killpg(process.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes.values():
            if process.popen is not None:
                try:
                    process.popen.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()

    def logs(self, name: str) -> str:
        """The log text of one process (for failure messages)."""
        path = self.processes[name].log_path
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""


def build_system(namespace: str, auth_database_url: str, keys: dict[str, str], log_dir: Path,
                 extra_env: dict[str, str] | None = None, prefix: str = "e2e", *, amqp_url: str) -> System:
    """Create fresh databases and the process table of the whole system on `amqp_url` (not started)."""
    from shared.db.migrate import migrate

    env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
    env.update({"AMQP_URL": amqp_url, "AUTH_DATABASE_URL": auth_database_url, "TOUCHPOINT_NAMESPACE": namespace,
                "PYTHONPATH": str(REPO), "LOG_LEVEL": "INFO", "WEBHOOK_SECRET": "e2e-webhook-secret"})
    urls = {}
    for service in SERVICES:
        url = fresh_database(f"{prefix}_{service}")
        migrate(REPO / "services" / service / "migrations", url)
        env[f"{service.upper()}_DATABASE_URL"] = url
        urls[service] = f"http://127.0.0.1:{free_port()}"
    env["CAMPAIGNS_CONTACTS_URL"] = urls["contacts"]
    env["CAMPAIGNS_CONTACTS_API_KEY"] = keys["marketer"]
    env["CAMPAIGNS_CHANNELS_URL"] = urls["channels"]  # campaign forecasts; the marketer key serves it too
    # Marketing email carries one-click unsubscribe links to this system's contacts service.
    env.update({"UNSUBSCRIBE_SECRET": "e2e-unsubscribe-secret", "TOUCHPOINT_PUBLIC_URL": urls["contacts"]})
    env.update(extra_env or {})
    log_dir.mkdir(parents=True, exist_ok=True)
    system = System(namespace, keys, env, log_dir, urls)
    for service in SERVICES:
        port = urls[service].rsplit(":", 1)[1]
        system.processes[f"{service}-api"] = Process(
            f"{service}-api",
            [sys.executable, "-m", "gunicorn", "-c", "python:shared.http.gunicorn_conf", "--workers", "1",
             "--threads", "8", "--bind", f"127.0.0.1:{port}", f"services.{service}:create_app()"],
            env, log_dir / f"{service}-api.log")
        system.processes[f"{service}-worker"] = Process(
            f"{service}-worker", [sys.executable, "-m", f"services.{service}", "worker"], env,
            log_dir / f"{service}-worker.log")
    return system
