"""The CLI's HTTP client: one service, one key, problem bodies turned into readable errors."""

from __future__ import annotations

import os
from typing import Any

import requests

from shared.config import DEFAULT_SERVICE_URLS as DEFAULT_URLS

TIMEOUT = 30


class CliError(Exception):
    """A failure to show the user as is (exit code 1)."""


def service_url(service: str) -> str:
    """Base URL of a service: $TOUCHPOINT_<SERVICE>_URL or the local default."""
    return (os.environ.get(f"TOUCHPOINT_{service.upper()}_URL") or DEFAULT_URLS[service]).rstrip("/")


def format_problem(status: int, body: Any) -> str:
    """`title: detail` plus one line per field error, from an RFC 9457 problem body (or whatever came)."""
    if not isinstance(body, dict):
        text = str(body or "").strip()
        return f"HTTP {status}" + (f": {text[:500]}" if text else "")
    title = body.get("title") or f"HTTP {status}"
    detail = body.get("detail")
    lines = [f"{title}: {detail}" if detail else str(title)]
    errors = body.get("errors")
    if isinstance(errors, dict):
        for field, messages in errors.items():
            if isinstance(messages, list | tuple):
                text = "; ".join(str(m) for m in messages)
            elif isinstance(messages, dict):
                text = "; ".join(f"{k}: {v}" for k, v in messages.items())
            else:
                text = str(messages)
            lines.append(f"  {field}: {text}")
    return "\n".join(lines)


class Api:
    """Requests to one service with `X-API-Key`; answers the decoded JSON or raises CliError."""

    def __init__(self, service: str, key: str | None, session: requests.Session | None = None) -> None:
        if not key:
            raise CliError("no API key: set TOUCHPOINT_API_KEY or pass --key")
        self.service = service
        self.base = service_url(service)
        self.session = session or requests.Session()
        self.session.headers["X-API-Key"] = key

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request; a 4xx/5xx becomes CliError with the problem's title, detail and field errors."""
        kwargs.setdefault("timeout", TIMEOUT)
        try:
            response = self.session.request(method, f"{self.base}{path}", **kwargs)
        except requests.ConnectionError as exc:
            raise CliError(f"cannot reach the {self.service} service at {self.base}: is it running? "
                           f"Start everything with ./scripts/up (or set TOUCHPOINT_{self.service.upper()}_URL)"
                           ) from exc
        except requests.Timeout as exc:
            raise CliError(f"the {self.service} service at {self.base} did not answer in time") from exc
        if response.status_code == 204 or not response.content:
            body: Any = None
        else:
            try:
                body = response.json()
            except ValueError:
                body = response.text
        if not response.ok:
            raise CliError(format_problem(response.status_code, body))
        return body

    def get(self, path: str, **kwargs: Any) -> Any:
        """GET."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        """POST."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        """PUT."""
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        """PATCH."""
        return self.request("PATCH", path, **kwargs)
