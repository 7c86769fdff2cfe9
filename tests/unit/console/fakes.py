"""Fake services for the console's page tests: answers by (method, service, path), records what was asked."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from services.console.client import Page, ServiceError

KEYS = {"tp_agent": ("agent", "Ann"), "tp_marketer": ("marketer", "Max"), "tp_operator": ("operator", "Olu")}
TASK = {"id": 7, "contact_id": "c1", "campaign_id": "k1", "priority": 100, "status": "open",
        "script": {"subject": "Call Ada", "body": "Ada withdrew 25000", "contact": {"first_name": "Ada",
                                                                                    "phone": "+4479"}},
        "expires_at": "2030-01-01T00:00:00+00:00"}


class FakeServices:
    """Stands in for the four services: answers by (method, service, path), records what was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, Any]] = []
        self.refuse: dict[tuple[str, str], ServiceError] = {}
        self.answers: dict[tuple[str, str], Any] = {}  # canned answers by (method, path)
        self.texts: dict[tuple[str, str], str] = {}  # canned text bodies (raw) by (service, path)

    def __call__(self, urls: dict[str, str], key: str | None, timeout: float) -> FakeServices:
        self.key = key
        return self

    def call(self, method: str, service: str, path: str, **kwargs: Any) -> Any:
        self.calls.append((method, service, path, kwargs.get("json") or kwargs.get("params")))
        if (method, path) in self.refuse:
            raise self.refuse[(method, path)]
        if (method, path) in self.answers:
            answer = self.answers[(method, path)]
            return answer() if callable(answer) else answer
        if path == "/api-keys/me":
            if self.key not in KEYS:
                raise ServiceError(service, 401, "Unauthorized", "a valid API key is required")
            role, name = KEYS[self.key]
            return {"key_id": f"id-{role}", "name": name, "role": role}
        if path == "/tasks/7/claim":
            return {**TASK, "status": "claimed"}
        if path == "/tasks/7/complete":
            return {**TASK, "status": "completed"}
        if path == "/campaigns":
            return [{"campaign_id": "k1", "name": "Welcome", "status": "active", "version": 1,
                     "definition": {"entry": {"type": "segment"}}}]
        return {}

    def raw(self, method: str, service: str, path: str, **kwargs: Any) -> Any:
        self.calls.append((method, service, path, None))
        if (method, path) in self.refuse:
            raise self.refuse[(method, path)]
        text = self.texts.get((service, path), "")
        return SimpleNamespace(text=text() if callable(text) else text)

    def get(self, service: str, path: str, **params: Any) -> Any:
        return self.call("GET", service, path, params=params)

    def post(self, service: str, path: str, body: Any = None) -> Any:
        return self.call("POST", service, path, json=body)

    def page(self, service: str, path: str, **params: Any) -> Page:
        self.call("GET", service, path, params=params)
        return Page([TASK] if params.get("status") == "open" else [], "next-token" if params.get("status") == "open"
                    else None)


def csrf(response) -> str:
    """The CSRF token of a page's forms."""
    return re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True)).group(1)


def sign_in(client, key: str):
    """Sign in through the form."""
    token = csrf(client.get("/sign-in"))
    return client.post("/sign-in", data={"api_key": key, "csrf_token": token})
