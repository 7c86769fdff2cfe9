"""`./scripts/up --detach` and `./scripts/down` for real: every service, the catchers, then a clean stop.

The local run gets its own ports, run directory, databases (this run's test prefix, dropped at the
end) and the module's vhost (deleted at the end), so it never meets a developer's own local run.
"""

from __future__ import annotations

import os
import smtplib
import socket
import subprocess
from email.message import EmailMessage

import pytest
import requests

from shared.config import SERVICES
from tests import support
from tests.support import REPO, wait_for

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def local_env(tmp_path, amqp_url, pg_root):
    """The environment of a local run that shares nothing with a developer's."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL") and k != "CHANNELS_ADAPTERS"}
    env.update({"TOUCHPOINT_RUN_DIR": str(tmp_path / "run"), "AMQP_URL": amqp_url,
                "AUTH_DATABASE_URL": support.test_database_url("up_auth"), "TOUCHPOINT_API_WORKERS": "1",
                "TOUCHPOINT_MAIL_PORT": str(_free_port()), "TOUCHPOINT_SMS_PORT": str(_free_port()),
                "TOUCHPOINT_CONSOLE_URL": f"http://127.0.0.1:{_free_port()}", "TOUCHPOINT_DB_POOL_SIZE": "2"})
    for service in SERVICES:
        env[f"{service.upper()}_DATABASE_URL"] = support.test_database_url(f"up_{service}")
        env[f"TOUCHPOINT_{service.upper()}_URL"] = f"http://127.0.0.1:{_free_port()}"
    env["TOUCHPOINT_CONSOLE_URL"] = f"http://127.0.0.1:{_free_port()}"
    yield env
    subprocess.run([str(REPO / "scripts" / "down")], env=env, capture_output=True, timeout=120)  # after a failure


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=10).status_code == 200
    except requests.RequestException:
        return False


def _script(env: dict[str, str], *argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO / "scripts" / argv[0]), *argv[1:]], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def test_up_detach_serves_everything_and_down_stops_it(local_env):
    run_dir = local_env["TOUCHPOINT_RUN_DIR"]
    up = _script(local_env, "up", "--detach", "--no-seed")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "Touchpoint is running" in up.stdout and "./scripts/down stops everything" in up.stdout
    assert f"{run_dir}/mail/ (touchpoint mail list" in up.stdout and f"{run_dir}/sms/" in up.stdout
    for service in SERVICES:  # up waited for them; a loaded machine or a broker restart may still slow one
        wait_for(lambda service=service: _healthy(local_env[f"TOUCHPOINT_{service.upper()}_URL"]), timeout=120,
                 interval=1, message=f"{service} /healthz")
    assert f"console    {local_env['TOUCHPOINT_CONSOLE_URL']}" in up.stdout
    assert requests.get(f"{local_env['TOUCHPOINT_CONSOLE_URL']}/sign-in", timeout=30).status_code == 200

    again = _script(local_env, "up", "--detach", "--no-seed")
    assert again.returncode == 1 and "already running" in again.stderr

    email = EmailMessage()
    email["From"], email["To"], email["Subject"] = "a@tp.test", "b@tp.test", "Caught by the local run"
    email.set_content("hello")
    with smtplib.SMTP("127.0.0.1", int(local_env["TOUCHPOINT_MAIL_PORT"])) as smtp:
        smtp.send_message(email)
    listed = subprocess.run([str(REPO / ".venv" / "bin" / "touchpoint"), "mail", "list"], env=local_env,
                            capture_output=True, text=True, timeout=60)
    assert "Caught by the local run" in listed.stdout

    down = _script(local_env, "down", timeout=120)
    assert down.returncode == 0 and "stopped" in down.stdout, down.stdout + down.stderr
    ports = [int(local_env[f"TOUCHPOINT_{s.upper()}_URL"].rsplit(":", 1)[1]) for s in (*SERVICES, "console")]
    assert not any(_open(port) for port in [*ports, int(local_env["TOUCHPOINT_MAIL_PORT"])])
    assert not os.path.exists(f"{run_dir}/up.pid")
    idle = _script(local_env, "down")
    assert idle.returncode == 0 and "no local run is running" in idle.stdout
