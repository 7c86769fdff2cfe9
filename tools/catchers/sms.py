"""The local SMS gateway stub: speaks the gateway protocol of `services/channels/adapters/sms.py`.

`POST /messages {"to", "from", "text", "reference"}` answers `201 {"id": ...}` and stores the
message as `<dir>/<id>.json`; the same `Idempotency-Key` again answers the first id (200) and
stores nothing, as a real gateway that deduplicates does. A body without `to` or `text` answers 400.
`GET /messages` lists what arrived; `GET /healthz` answers 200.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tools.catchers.store import CaughtMessages

MAX_BODY = 64 * 1024


class SmsGatewayStub(ThreadingHTTPServer):
    """A loopback HTTP server storing the SMS it is given."""

    daemon_threads = True

    def __init__(self, directory: Path | str, port: int, host: str = "127.0.0.1") -> None:
        self.messages = CaughtMessages(directory, ".json")
        self.by_key: dict[str, str] = {entry["idempotency_key"]: entry["id"] for entry in self.messages.entries()
                                       if entry.get("idempotency_key")}
        self.key_lock = threading.Lock()
        super().__init__((host, port), _Handler)

    def accept(self, body: dict[str, Any], idempotency_key: str | None) -> tuple[int, str]:
        """Store one SMS unless its idempotency key was seen; the status to answer and the id."""
        with self.key_lock:
            if idempotency_key and idempotency_key in self.by_key:
                return 200, self.by_key[idempotency_key]
            summary = {"received_at": datetime.now(UTC).isoformat(timespec="seconds"), "to": body["to"],
                       "from": body.get("from", ""), "text": body["text"], "reference": body.get("reference"),
                       "idempotency_key": idempotency_key}
            message_id = self.messages.add(json.dumps(body, indent=2).encode(), summary)
            if idempotency_key:
                self.by_key[idempotency_key] = message_id
            return 201, message_id


class _Handler(BaseHTTPRequestHandler):
    server: SmsGatewayStub

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802  (http.server hook name)
        if self.path == "/healthz":
            self._answer(200, {"status": "ok"})
        elif self.path == "/messages":
            self._answer(200, {"items": list(self.server.messages.entries())})
        else:
            self._answer(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802  (http.server hook name)
        if self.path != "/messages":
            self._answer(404, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._answer(413, {"error": "body too large"})
            return
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("to"), str) or not isinstance(body.get("text"), str):
            self._answer(400, {"error": "a JSON object with string fields 'to' and 'text' is required"})
            return
        status, message_id = self.server.accept(body, self.headers.get("Idempotency-Key"))
        self._answer(status, {"id": message_id})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (http.server's signature)
        """Quiet: the stored messages are the record."""


def start_sms_stub(directory: Path | str, port: int, host: str = "127.0.0.1") -> SmsGatewayStub:
    """Start the stub in a background thread; `.shutdown()` it to end it."""
    stub = SmsGatewayStub(directory, port, host)
    threading.Thread(target=stub.serve_forever, name="sms-stub", daemon=True).start()
    return stub
