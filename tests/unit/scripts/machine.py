"""A fake Debian machine for the shell functions of scripts/lib.sh: PATH shims that record every call.

No package is ever installed: `apt-get`, `dpkg-query`, `id`, `sudo`, `python3` and the servers'
commands are small bash scripts that append their arguments to `calls.log` and answer from files
in a state folder (installed packages, open ports, the user id). Only a whitelist of harmless real
tools (grep, sed, awk, ...) is on PATH beside them, so nothing of the real machine leaks in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
REAL_TOOLS = ("bash", "cat", "grep", "sed", "sort", "tail", "head", "ls", "awk", "tr", "cut", "seq", "sleep",
              "env", "dirname", "basename", "mkdir", "touch", "rm", "sha256sum", "printf")

FAKES = {
    "id": '[ "$1" = -u ] && cat "$STATE/uid"',
    "sudo": '[ "$1" = -n ] || exit 2\nshift\n[ "$*" = true ] && { [ -e "$STATE/sudo-ok" ]; exit; }\n'
            '[ -e "$STATE/sudo-ok" ] || exit 1\nexec "$@"',
    "dpkg-query": 'status=0\nfor p in "$@"; do case "$p" in -*) continue;; esac\n'
                  '  if grep -qxF "$p" "$STATE/installed"; then echo "$p installed"\n'
                  '  else echo "dpkg-query: no packages found matching $p" >&2; status=1; fi\ndone\nexit $status',
    "apt-get": 'echo "DEBIAN_FRONTEND=${DEBIAN_FRONTEND:-} apt-get $*" >> "$STATE/apt.log"\n'
               'simulate=""; install=""; pkgs=()\nfor a in "$@"; do case "$a" in -s) simulate=1;; install) install=1;;\n'
               '  -*) ;; *) [ -n "$install" ] && pkgs+=("$a");; esac; done\n'
               'if [ -n "$simulate" ]; then for p in "${pkgs[@]}"; do echo "Inst $p (1.0 Debian)"; done\n'
               '  [ -e "$STATE/pulls-postfix" ] && echo "Inst postfix (3.7.10 Debian)"; exit 0; fi\n'
               '[ -n "$install" ] && printf "%s\\n" "${pkgs[@]}" >> "$STATE/installed"\nexit 0',
    "python3": '[ -e "$STATE/python-venv-ok" ]',
    "venv-python": "exit 0",
    "pg_createcluster": 'mkdir -p "$PG_ETC/$1/$2"; touch "$PG_ETC/$1/$2/postgresql.conf"\n'
                        'echo "local all postgres peer" > "$PG_ETC/$1/$2/pg_hba.conf"',
    "pg_ctlcluster": 'case " $* " in *" start "*) touch "$STATE/port-5432";; esac',
    "rabbitmq-server": 'touch "$STATE/port-5672"',
    "rabbitmq-plugins": 'case " $* " in *" is_enabled "*) exit 1;; esac',
    "docker-compose": "exit 0", "chromium": "exit 0", "chromedriver": "exit 0",
}
SERVER_COMMANDS = ("pg_createcluster", "pg_ctlcluster", "rabbitmq-server", "rabbitmq-plugins")


class FakeMachine:
    """State and shims of one fake machine; `run(script)` runs bash with scripts/lib.sh sourced."""

    def __init__(self, root: Path, *, uid: int = 0, sudo: str | None = None, os_id: str = "debian",
                 installed: tuple[str, ...] = (), commands: tuple[str, ...] = (), ports: tuple[int, ...] = (),
                 venv: bool = True, pg_versions: tuple[str, ...] = (), clusters: tuple[str, ...] = ()) -> None:
        self.bin, self.state = root / "bin", root / "state"
        self.bin.mkdir(parents=True)
        self.state.mkdir()
        self.pg_etc, self.pg_lib = self.state / "etc-postgresql", self.state / "usr-lib-postgresql"
        for tool in REAL_TOOLS:
            real = shutil.which(tool)
            if real:
                (self.bin / tool).symlink_to(real)
        wanted = {"id", "dpkg-query", "apt-get", "python3", "venv-python", *commands}
        if sudo is not None:
            wanted.add("sudo")
        for name in wanted:
            body = FAKES[name]
            recorder = "" if name in ("apt-get",) else f'echo "{name} $*" >> "$STATE/calls.log"\n'
            path = self.bin / name
            path.write_text(f"#!{shutil.which('bash')}\n{recorder}{body}\n")
            path.chmod(0o755)
        (self.state / "uid").write_text(f"{uid}\n")
        if sudo == "nopass":
            (self.state / "sudo-ok").touch()
        (self.state / "installed").write_text("".join(f"{p}\n" for p in installed))
        (self.state / "os-release").write_text(f'ID={os_id}\nPRETTY_NAME="{os_id}"\n')
        for port in ports:
            (self.state / f"port-{port}").touch()
        for version in pg_versions:
            (self.pg_lib / version).mkdir(parents=True)
        for version in clusters:
            cluster = self.pg_etc / version / "main"
            cluster.mkdir(parents=True)
            (cluster / "postgresql.conf").touch()
            (cluster / "pg_hba.conf").write_text("host all all 127.0.0.1/32 scram-sha-256\n")
        self.venv = venv

    def run(self, script: str) -> subprocess.CompletedProcess:
        """Run `script` after sourcing scripts/lib.sh, with only the shims on PATH."""
        python = self.bin / "venv-python" if self.venv else self.state / "no-venv" / "python"
        prelude = (f'source "{REPO}/scripts/lib.sh"\nPATH="{self.bin}"\nOS_RELEASE="{self.state}/os-release"\n'
                   f'PG_LIB="{self.pg_lib}"\nPG_ETC="{self.pg_etc}"\n'
                   f'RABBITMQ_ENABLED_PLUGINS="{self.state}/enabled_plugins"\nPY="{python}"\n'
                   'port_open() { [ -e "$STATE/port-$1" ]; }\n')
        env = {"PATH": str(self.bin), "STATE": str(self.state), "PG_ETC": str(self.pg_etc), "HOME": str(self.state)}
        return subprocess.run([shutil.which("bash"), "-c", prelude + script], env=env, capture_output=True,
                              text=True, timeout=60, cwd=self.state)

    def calls(self) -> list[str]:
        """Every recorded call of a fake command but apt-get, in order."""
        path = self.state / "calls.log"
        return path.read_text().splitlines() if path.exists() else []

    def apt(self) -> list[str]:
        """Every apt-get call, with the DEBIAN_FRONTEND it saw."""
        path = self.state / "apt.log"
        return path.read_text().splitlines() if path.exists() else []

    def installed(self) -> list[str]:
        """Packages the fake dpkg knows as installed."""
        return (self.state / "installed").read_text().split()


def environ_has_bash() -> bool:
    """The shims need bash (every Debian has it)."""
    return shutil.which("bash") is not None and os.name == "posix"
