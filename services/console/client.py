"""The console's only way to the system: the four services' public HTTP APIs, with the user's own key.

A refusal becomes `ServiceError` carrying the service's RFC 9457 problem (title, detail, field
errors), which the console shows as it is; an unreachable service becomes `ServiceUnavailable`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests


@dataclass
class ServiceError(Exception):
    """A service refused a request; `detail` is the problem text it answered."""

    service: str
    status: int
    title: str
    detail: str = ""
    errors: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.service}: {self.status} {self.title}: {self.detail}"


class ServiceUnavailable(ServiceError):
    """A service did not answer at all."""


@dataclass
class Page:
    """A list answer and the cursor of the next page, if any."""

    items: list[dict[str, Any]]
    next_cursor: str | None = None


class ServiceClient:
    """Requests to the services with one API key (`X-API-Key`); answers decoded JSON."""

    def __init__(self, urls: dict[str, str], key: str | None, timeout: float = 15.0,
                 session: requests.Session | None = None) -> None:
        self.urls = urls
        self.key = key
        self.timeout = timeout
        self.http = session or requests.Session()

    def raw(self, method: str, service: str, path: str, **kwargs: Any) -> requests.Response:
        """Send a request; raise ServiceError/ServiceUnavailable unless it succeeded."""
        headers = dict(kwargs.pop("headers", None) or {})
        if self.key:
            headers["X-API-Key"] = self.key
        base = self.urls[service]
        try:
            response = self.http.request(method, base + path, headers=headers, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise ServiceUnavailable(service, 503, "Service unavailable",
                                     f"the {service} service at {base} did not answer ({exc.__class__.__name__})"
                                     ) from exc
        if response.status_code >= 400:
            raise _problem(service, response)
        return response

    def call(self, method: str, service: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of a request (None when empty)."""
        response = self.raw(method, service, path, **kwargs)
        return response.json() if response.content else None

    def get(self, service: str, path: str, **params: Any) -> Any:
        """GET with query parameters (None values left out)."""
        return self.call("GET", service, path, params={k: v for k, v in params.items() if v is not None})

    def post(self, service: str, path: str, body: Any = None) -> Any:
        """POST a JSON body."""
        return self.call("POST", service, path, json=body if body is not None else {})

    def page(self, service: str, path: str, **params: Any) -> Page:
        """A list whose next cursor comes in `X-Next-Cursor` (or a body with items/next_cursor)."""
        response = self.raw("GET", service, path, params={k: v for k, v in params.items() if v is not None})
        body = response.json()
        if isinstance(body, dict):
            return Page(body.get("items", []), body.get("next_cursor"))
        return Page(body, response.headers.get("X-Next-Cursor"))


def _problem(service: str, response: requests.Response) -> ServiceError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return ServiceError(service, response.status_code, response.reason or "Error", response.text[:300])
    errors = body.get("errors") if isinstance(body.get("errors"), dict) else {}
    return ServiceError(service, response.status_code, str(body.get("title") or response.reason or "Error"),
                        str(body.get("detail") or ""), errors)
