"""The benchmark's SMTP server: postfix's smtp-sink (C) counting every message by Message-ID.

smtp-sink appends each message to a dump file (on /dev/shm, a new file per minute so a million
messages never pile up); a reader thread parses the dumps as they grow and deletes finished ones.
With a provider latency, a delay proxy (bench/smtp_delay.py, its own process) sits in front,
because smtp-sink waits whole seconds only. Without the postfix binaries (bench/get-smtp-sink
could not fetch them) an aiosmtpd server in this process stands in, delay included.
The sink's own ceiling is measured with postfix's smtp-source through the same path.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parent
TOOLS = BENCH / ".tools" / "postfix"
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*<([^>]+)>", re.MULTILINE | re.IGNORECASE)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postfix_tool(name: str) -> Path | None:
    """Path of smtp-sink / smtp-source from bench/.tools, fetched by bench/get-smtp-sink if missing."""
    path = TOOLS / "usr" / "sbin" / name
    if not path.exists():
        subprocess.run([str(BENCH / "get-smtp-sink")], check=False, capture_output=True)
    return path if path.exists() else None


def _tool_env() -> dict[str, str]:
    return {**os.environ, "LD_LIBRARY_PATH": str(TOOLS / "usr" / "lib" / "postfix")}


class DumpParser:
    """Turns smtp-sink dump text into (recipient, Message-ID) pairs, fed in arbitrary pieces."""

    def __init__(self) -> None:
        self._partial = b""
        self._in_headers = False
        self._recipient = ""
        self._message_id: str | None = None

    def feed(self, data: bytes) -> list[tuple[str, str]]:
        """Parse more bytes; return the messages whose headers are complete (no Message-ID: "")."""
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        found = []
        for raw in lines:
            line = raw.rstrip(b"\r")
            if line.startswith(b"X-Client-Addr:"):  # smtp-sink's first header: a new message
                self._in_headers, self._recipient, self._message_id = True, "", None
            elif not self._in_headers:
                continue
            elif line.startswith(b"X-Rcpt-Args:") and not self._recipient:
                self._recipient = line.split(b":", 1)[1].strip().split(b" ")[0].strip(b"<>").decode().lower()
            elif line[:11].lower() == b"message-id:" and self._message_id is None:
                self._message_id = line[11:].strip().strip(b"<>").decode()
            elif not line:
                self._in_headers = False
                found.append((self._recipient, self._message_id or ""))
        return found


class Arrivals:
    """Every message that reached a sink: times in arrival order and a count per Message-ID."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: list[float] = []
        self.by_id: Counter[str] = Counter()

    def add(self, messages: list[tuple[str, str]], at: float) -> None:
        """Record messages seen at `at`."""
        with self.lock:
            for _recipient, message_id in messages:
                self.times.append(at)
                self.by_id[message_id] += 1

    @property
    def count(self) -> int:
        """Messages received so far (duplicates included)."""
        return len(self.times)

    def exactly_once(self) -> dict[str, int]:
        """Distinct Message-IDs, how many arrived more than once, and messages without one."""
        with self.lock:
            return {"messages": len(self.times), "distinct": len(self.by_id),
                    "duplicated_ids": sum(1 for n in self.by_id.values() if n > 1),
                    "without_id": self.by_id.get("", 0)}


class SmtpSinkServer:
    """smtp-sink (plus the delay proxy when `latency_ms` > 0) on loopback; `port` is where clients connect."""

    kind = "postfix smtp-sink"

    def __init__(self, latency_ms: float = 0.0) -> None:
        self.latency_ms = latency_ms
        self.arrivals = Arrivals()
        self.sink_port = free_port()
        self.port = free_port() if latency_ms > 0 else self.sink_port
        self.dump_dir = Path(tempfile.mkdtemp(prefix="touchpoint-sink-", dir="/dev/shm" if Path("/dev/shm").is_dir()
                                              else None))
        self.processes: list[subprocess.Popen] = []
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_dumps, daemon=True)

    def start(self) -> None:
        """Start the sink (and proxy) and the dump reader; return when clients can connect."""
        sink = postfix_tool("smtp-sink")
        if sink is None:
            raise RuntimeError("smtp-sink is not available")
        os.chmod(self.dump_dir, 0o777)  # smtp-sink drops to `nobody` when started as root
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        # -D: append each message to a dump named by strftime, a new file every minute
        self.processes.append(subprocess.Popen(
            [str(sink), *user, "-D", f"{self.dump_dir}/%Y%m%d%H%M", f"127.0.0.1:{self.sink_port}", "1024"],
            env=_tool_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if self.latency_ms > 0:
            proxy = subprocess.Popen(
                [sys.executable, "-m", "bench.smtp_delay", "--port", str(self.port), "--upstream-port",
                 str(self.sink_port), "--delay-ms", str(self.latency_ms)],
                cwd=BENCH.parent, stdout=subprocess.PIPE, text=True)
            self.processes.append(proxy)
            if not (proxy.stdout and proxy.stdout.readline().startswith("ready")):
                raise RuntimeError("the SMTP delay proxy did not start")
        _wait_listening(self.sink_port)
        self._reader.start()

    def _read_dumps(self) -> None:
        offsets: dict[Path, int] = {}
        parsers: dict[Path, DumpParser] = {}
        while True:
            stopping = self._stop.is_set()
            files = sorted(self.dump_dir.iterdir())
            for path in files:
                try:
                    with open(path, "rb") as dump:
                        dump.seek(offsets.get(path, 0))
                        data = dump.read()
                except FileNotFoundError:
                    continue
                if data:
                    offsets[path] = offsets.get(path, 0) + len(data)
                    self.arrivals.add(parsers.setdefault(path, DumpParser()).feed(data), time.time())
                # a file two minutes older than the newest is finished: smtp-sink writes the current minute's
                elif path != files[-1] and files.index(path) < len(files) - 2:
                    path.unlink(missing_ok=True)
                    offsets.pop(path, None)
                    parsers.pop(path, None)
            if stopping:
                return
            time.sleep(0.1)

    def ceiling(self, messages: int = 5000, sessions: int = 50) -> float:
        """Messages/s smtp-source pushes through this path with `sessions` connections (C client, 400-byte body)."""
        source = postfix_tool("smtp-source")
        if source is None:
            return float("nan")
        before = self.arrivals.count
        started = time.perf_counter()
        subprocess.run([str(source), "-s", str(sessions), "-m", str(messages), "-l", "400", "-d",
                        "-f", "ceiling@bench", "-t", "ceiling@bench", f"127.0.0.1:{self.port}"],
                       env=_tool_env(), check=True, capture_output=True, timeout=600)
        # the count is what the sink dumped, so wait for the reader to see every message
        deadline = time.monotonic() + 30
        while self.arrivals.count - before < messages and time.monotonic() < deadline:
            time.sleep(0.05)
        return messages / (time.perf_counter() - started)

    @property
    def pids(self) -> list[int]:
        """Process ids of the sink and the proxy (for CPU accounting)."""
        return [p.pid for p in self.processes]

    def stop(self) -> None:
        """Stop the processes and the reader, delete the dumps."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        self._stop.set()
        if self._reader.is_alive():
            self._reader.join(30)
        shutil.rmtree(self.dump_dir, ignore_errors=True)


class AiosmtpdSinkServer:
    """The fallback: aiosmtpd in this process (~850 messages/s of one core), answering after `latency_ms`."""

    kind = "aiosmtpd (fallback)"

    def __init__(self, latency_ms: float = 0.0) -> None:
        from aiosmtpd.controller import Controller

        self.latency_ms = latency_ms
        self.arrivals = Arrivals()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd hook name
        """Record the message after the provider's delay."""
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        found = _MESSAGE_ID.search(envelope.content or b"")
        self.arrivals.add([(to.lower(), found.group(1).decode() if found else "") for to in envelope.rcpt_tos],
                          time.time())
        return "250 OK"

    def start(self) -> None:
        """Start listening."""
        self._controller.start()

    def ceiling(self, messages: int = 2000, sessions: int = 20) -> float:
        """Not measured for the fallback (it shares this process's interpreter)."""
        return float("nan")

    @property
    def pids(self) -> list[int]:
        """It runs inside the harness."""
        return []

    def stop(self) -> None:
        """Stop listening."""
        self._controller.stop()


def start_sink(latency_ms: float) -> SmtpSinkServer | AiosmtpdSinkServer:
    """smtp-sink when the postfix binaries can be had, else aiosmtpd; started."""
    sink: SmtpSinkServer | AiosmtpdSinkServer
    sink = SmtpSinkServer(latency_ms) if postfix_tool("smtp-sink") else AiosmtpdSinkServer(latency_ms)
    sink.start()
    return sink


def _wait_listening(port: int, timeout: float = 10) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")
