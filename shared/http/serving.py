"""The HTTP servers in front of the apps answer their own errors as RFC 9457 problem bodies too.

A request the server refuses before the app sees it (a request line beyond the server's limit, a
malformed header) would otherwise get the server's HTML error page. gunicorn (production, and
`scripts/up`) runs with `-c python:shared.http.gunicorn_conf`, which installs `gunicorn_error_page`;
the development server (`python -m services.<name> api`) runs with `ProblemRequestHandler`.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from werkzeug.serving import WSGIRequestHandler

from shared.http.problems import PROBLEM_TYPE_BASE

PROBLEM_TYPE = "application/problem+json"


def problem_bytes(status: int, title: str, detail: str = "") -> bytes:
    """The body of a problem answered by the server itself (no request path is known for sure)."""
    kind = {414: "uri-too-long", 431: "header-fields-too-large"}.get(status)
    body: dict[str, Any] = {"type": PROBLEM_TYPE_BASE + kind if kind else "about:blank", "title": title,
                            "status": status}
    if detail:
        body["detail"] = detail
    return json.dumps(body).encode()


def gunicorn_error_page(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """Stand-in for gunicorn.util.write_error: the same answer, as problem JSON instead of HTML."""
    from gunicorn.util import write_nonblock

    body = problem_bytes(status_int, reason, mesg)
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: {PROBLEM_TYPE}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    write_nonblock(sock, head.encode("latin-1") + body)


def install_gunicorn_error_page() -> None:
    """Make gunicorn write its error answers through `gunicorn_error_page` (called in each worker)."""
    from gunicorn import util

    util.write_error = gunicorn_error_page


class ProblemRequestHandler(WSGIRequestHandler):
    """The development server's request handler, answering its own errors with problem bodies."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Send an error the server itself detected (e.g. 414) as problem JSON."""
        try:
            title = HTTPStatus(code).phrase
        except ValueError:
            title = "Error"
        self.log_error("code %d, message %s", code, message or title)
        self.send_response(code, message or title)
        self.send_header("Connection", "close")
        body = problem_bytes(code, title, explain or message or "")
        self.send_header("Content-Type", PROBLEM_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
