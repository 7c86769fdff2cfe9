"""The local run's outside world and lifetime: catchers, the pid file, `--detach` and `./scripts/down`.

Kept apart from `tools/devrun.py` (which starts the services) so each stays small. The pid file
`<run dir>/up.pid` holds the supervising `tools.devrun` process of a running local run, foreground
or detached; `<run dir>/up.ready` appears once it has started everything and holds what it printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tools.catchers import DEFAULT_MAIL_PORT, DEFAULT_SMS_PORT

STOP_SECONDS = 40.0  # the supervisor gives each child 15 s to stop gracefully


def catcher_ports(env: dict[str, str]) -> tuple[int, int]:
    """The mail catcher's SMTP port and the SMS stub's HTTP port ($TOUCHPOINT_MAIL_PORT, $TOUCHPOINT_SMS_PORT)."""
    return (int(env.get("TOUCHPOINT_MAIL_PORT") or DEFAULT_MAIL_PORT),
            int(env.get("TOUCHPOINT_SMS_PORT") or DEFAULT_SMS_PORT))


def local_adapters(mail_port: int, sms_port: int) -> str:
    """CHANNELS_ADAPTERS of the local run: email and SMS to the catchers, the other channels as by default.

    Written out here rather than imported from services/channels because the clients in tools/ never
    import a service; production, which never runs devrun, keeps the adapters' own defaults.
    """
    return json.dumps({"email": {"adapter": "smtp", "host": "127.0.0.1", "port": mail_port},
                       "sms": {"adapter": "sms_gateway", "url": f"http://127.0.0.1:{sms_port}/messages"},
                       "call": {"adapter": "call_center"}, "web": {"adapter": "web_offers"}})


def start_catchers(run_dir: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start `python -m tools.catchers` and wait until both ports answer; raise if it exits first."""
    mail_port, sms_port = catcher_ports(env)
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tools.catchers", "--dir", str(run_dir),
                                 "--mail-port", str(mail_port), "--sms-port", str(sms_port)],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not (_port_open(mail_port) and _port_open(sms_port)):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the mail catcher / SMS stub did not start on ports {mail_port}, {sms_port}; see {log}")
        time.sleep(0.2)
    return proc


def where_to_look(run_dir: Path, env: dict[str, str]) -> list[str]:
    """The lines `./scripts/up` prints about the catchers."""
    mail_port, sms_port = catcher_ports(env)
    return [f"  email  -> mail catcher 127.0.0.1:{mail_port}, stored in {run_dir / 'mail'}/ "
            "(touchpoint mail list | mail show ID)",
            f"  sms    -> gateway stub http://127.0.0.1:{sms_port}/messages, stored in {run_dir / 'sms'}/ "
            "(touchpoint sms list | sms show ID)"]


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int) -> bool:
    """True when `pid` runs and is a `tools.devrun` supervisor (not a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"tools.devrun" in cmdline


def running_pid(run_dir: Path) -> int | None:
    """The pid of the running local run, or None (a stale pid file is removed)."""
    path = run_dir / "up.pid"
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    if _alive(pid):
        return pid
    path.unlink(missing_ok=True)
    return None


def claim(run_dir: Path) -> None:
    """Record this process as the local run; refuse when another one runs."""
    other = running_pid(run_dir)
    if other is not None and other != os.getpid():
        raise SystemExit(f"a local run is already running (pid {other}); stop it with ./scripts/down")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "up.ready").unlink(missing_ok=True)
    (run_dir / "up.pid").write_text(f"{os.getpid()}\n")


def mark_ready(run_dir: Path, summary: str) -> None:
    """Say that everything started (read by the `--detach` parent)."""
    (run_dir / "up.ready").write_text(summary)


def release(run_dir: Path) -> None:
    """Remove the pid and ready files if they are this process's."""
    if running_pid(run_dir) == os.getpid():
        (run_dir / "up.pid").unlink(missing_ok=True)
        (run_dir / "up.ready").unlink(missing_ok=True)


def detach(run_dir: Path, argv: list[str], timeout: float = 300.0) -> int:
    """Start `tools.devrun argv` in its own session, wait until it is ready, print its summary."""
    other = running_pid(run_dir)
    if other is not None:
        print(f"a local run is already running (pid {other}); stop it with ./scripts/down", file=sys.stderr)
        return 1
    log = run_dir / "logs" / "up.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    (run_dir / "up.ready").unlink(missing_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tools.devrun", *argv], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not (run_dir / "up.ready").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            print(f"the local run did not start (exit {proc.poll()}); see {log}:", file=sys.stderr)
            print("".join(log.read_text(errors="replace").splitlines(keepends=True)[-20:]), file=sys.stderr)
            if proc.poll() is None:
                stop(run_dir)
            return 1
        time.sleep(0.5)
    print((run_dir / "up.ready").read_text().replace("Ctrl-C stops everything.", "./scripts/down stops everything."))
    print(f"running in the background (pid {proc.pid}); its output, with the demo's example commands: {log}")
    return 0


def stop(run_dir: Path, timeout: float = STOP_SECONDS) -> int:
    """`./scripts/down`: stop the running local run gracefully (SIGTERM), then by force; 0 when none runs."""
    pid = running_pid(run_dir)
    if pid is None:
        print("no local run is running")
        return 0
    print(f"stopping the local run (pid {pid})", flush=True)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        print("it did not stop in time; killing its process group", file=sys.stderr)
        with contextlib.suppress(ProcessLookupError):  # it may end on its own meanwhile
            if os.getpgid(pid) == pid:  # detached: its children are in its group
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
    (run_dir / "up.pid").unlink(missing_ok=True)
    (run_dir / "up.ready").unlink(missing_ok=True)
    print("stopped")
    return 0


if __name__ == "__main__":  # `python -m tools.localrun down` is what ./scripts/down runs
    from tools.cli.caught import run_dir as _run_dir

    if sys.argv[1:] != ["down"]:
        sys.exit("usage: python -m tools.localrun down")
    sys.exit(stop(_run_dir()))
