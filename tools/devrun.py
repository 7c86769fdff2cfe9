"""Run every Touchpoint service locally as processes: `./scripts/up` calls this.

Creates and migrates the databases, creates the first operator key (kept in .run/, never in git),
starts an API (gunicorn) and a worker per service, waits for their health checks, optionally seeds
a demo, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time

import requests

from tools import localrun
from tools.cli import DEFAULT_URLS, REPO, _key_store, setup_databases
from tools.cli.caught import run_dir
from tools.cli.client import service_url

RUN_DIR = run_dir()
CONSOLE_URL = os.environ.get("TOUCHPOINT_CONSOLE_URL", "http://127.0.0.1:8005")


def _state() -> dict:
    path = RUN_DIR / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _save_state(state: dict) -> None:
    RUN_DIR.mkdir(exist_ok=True)
    path = RUN_DIR / "state.json"
    path.write_text(json.dumps(state, indent=2))
    path.chmod(0o600)


def ensure_credentials() -> dict:
    """Create the operator key, the campaigns→contacts key and the webhook, console and unsubscribe secrets once."""
    state = _state()
    store = _key_store()
    if "operator_key" not in state or store.verify(state["operator_key"]) is None:
        state["operator_key"] = store.create("local operator", "operator")[1]
    if "campaigns_key" not in state or store.verify(state["campaigns_key"]) is None:
        state["campaigns_key"] = store.create("campaigns service → contacts", "marketer")[1]
    state.setdefault("webhook_secret", secrets.token_hex(32))
    state.setdefault("console_secret", secrets.token_hex(32))  # signs the console's session cookies
    state.setdefault("unsubscribe_secret", secrets.token_hex(32))  # signs one-click unsubscribe links
    _save_state(state)
    return state


def _services() -> list[str]:
    return [name for name in DEFAULT_URLS if (REPO / "services" / name / "__init__.py").exists()
            and (REPO / "services" / name / "service.py").exists()]


def main(argv: list[str] | None = None) -> int:
    """Start everything and supervise it (or, with --detach, in the background)."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="scripts/up")
    parser.add_argument("--no-seed", action="store_true", help="do not seed the demo data")
    parser.add_argument("--detach", action="store_true", help="run in the background; ./scripts/down stops it")
    args = parser.parse_args(argv)
    if args.detach:
        return localrun.detach(RUN_DIR, [arg for arg in argv if arg != "--detach"])
    localrun.claim(RUN_DIR)
    try:
        return _run(args)
    finally:
        localrun.release(RUN_DIR)


def _run(args: argparse.Namespace) -> int:
    print("==> migrating databases", flush=True)
    setup_databases()
    state = ensure_credentials()
    env = dict(os.environ)
    env.update({"WEBHOOK_SECRET": state["webhook_secret"], "UNSUBSCRIBE_SECRET": state["unsubscribe_secret"],
                "CAMPAIGNS_CONTACTS_URL": service_url("contacts"),
                "CAMPAIGNS_CONTACTS_API_KEY": state["campaigns_key"], "CAMPAIGNS_CHANNELS_URL": service_url("channels"),
                "PYTHONPATH": str(REPO)})  # the marketer key serves channels' POST /forecast too
    # Unsubscribe links in the emails the local run sends point at the local contacts service.
    env.setdefault("TOUCHPOINT_PUBLIC_URL", service_url("contacts"))
    logs = RUN_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # Local run only: email and SMS go to catchers on loopback unless CHANNELS_ADAPTERS says otherwise.
    env.setdefault("CHANNELS_ADAPTERS", localrun.local_adapters(*localrun.catcher_ports(env)))
    procs: list[subprocess.Popen] = [localrun.start_catchers(RUN_DIR, env, logs / "catchers.log")]
    api_workers = os.environ.get("TOUCHPOINT_API_WORKERS") or "2"
    for name in _services():
        port = service_url(name).rsplit(":", 1)[1]
        commands = {
            "api": [sys.executable, "-m", "gunicorn", "-c", "python:shared.http.gunicorn_conf",
                    "--workers", api_workers, "--threads", "4", "--bind",
                    f"127.0.0.1:{port}", "--graceful-timeout", "10", f"services.{name}:create_app()"],
            "worker": [sys.executable, "-m", f"services.{name}", "worker"],
        }
        for role, command in commands.items():
            log = open(logs / f"{name}-{role}.log", "ab")  # noqa: SIM115 - lives as long as the child
            procs.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
    console = (REPO / "services" / "console" / "__init__.py").exists()
    if console:
        log = open(logs / "console.log", "ab")  # noqa: SIM115 - lives as long as the child
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "8", "--bind",
             CONSOLE_URL.removeprefix("http://"), "services.console:create_app()"],
            cwd=REPO, env={**env, "CONSOLE_SECRET_KEY": state["console_secret"]}, stdout=log, stderr=subprocess.STDOUT))
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    unhealthy = _wait_healthy([*_services(), *(["console"] if console else [])])
    if not args.no_seed:
        try:
            from tools.demo import seed

            seed(state["operator_key"])
        except Exception as exc:  # the demo is a convenience; the system runs without it
            print(f"demo seed skipped: {exc}", flush=True)
    lines = ["", "Touchpoint is running:"]
    for name in _services():
        lines.append(f"  {name:<10} {service_url(name)}  (OpenAPI: {service_url(name)}/openapi.json)")
    lines.append(f"  console    {CONSOLE_URL}  (web console: sign in with a key from {RUN_DIR / 'state.json'})")
    if env["CHANNELS_ADAPTERS"] == localrun.local_adapters(*localrun.catcher_ports(env)):
        lines += localrun.where_to_look(RUN_DIR, env)
    if unhealthy:
        lines.append(f"  NOT healthy yet: {', '.join(sorted(unhealthy))} (see {logs}/)")
    lines.append(f"  operator key: {state['operator_key']}   (also in {RUN_DIR / 'state.json'})")
    lines.append(f"  logs: {logs}/   Ctrl-C stops everything.\n")
    print("\n".join(lines), flush=True)
    localrun.mark_ready(RUN_DIR, "\n".join(lines))
    while not stopping:
        for proc in procs:
            if proc.poll() is not None:
                print(f"process {' '.join(proc.args[-2:])} exited with {proc.returncode}; see {logs}", flush=True)
                stopping = True
        time.sleep(0.5)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0


def _wait_healthy(names: list[str], timeout: float = 60.0) -> set[str]:
    """Wait for every service's /healthz; return those that did not answer 200 in time."""
    deadline = time.monotonic() + timeout
    pending = set(names)
    probe = {name: f"{service_url(name)}/healthz" for name in names}
    if "console" in names:  # the console has no database or broker to check: it is up when it answers
        probe["console"] = f"{CONSOLE_URL}/livez"
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            try:
                if requests.get(probe[name], timeout=2).status_code == 200:
                    pending.discard(name)
            except requests.RequestException:
                pass
        time.sleep(0.5)
    if pending:
        print(f"not healthy after {timeout:.0f}s: {', '.join(sorted(pending))} (see {RUN_DIR / 'logs'})", flush=True)
    return pending


if __name__ == "__main__":
    sys.exit(main())
