"""Pieces the HTTP-based adapters share: a session with timeouts and the JSON body of a message."""

from __future__ import annotations

import json
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from services.channels.adapters.base import DeliveryResult, RenderedMessage, http_result


def session(pool_size: int = 1, user_agent: str = "touchpoint-channels") -> requests.Session:
    """A keep-alive session shared by the lane's threads, keeping up to `pool_size` connections per host.

    requests' default keeps 10 connections per host and silently drops (and later reopens) the
    rest; sized to the adapter's `max_in_flight`, every concurrent send reuses a kept connection.
    urllib3's pool is thread-safe, and the session's headers and auth are set once before use.
    """
    s = requests.Session()
    s.headers["User-Agent"] = user_agent
    pooled = HTTPAdapter(pool_connections=4, pool_maxsize=max(1, pool_size))
    s.mount("http://", pooled)
    s.mount("https://", pooled)
    return s


def post_json(http: requests.Session, url: str, body: bytes, headers: dict[str, str], timeout: float) -> DeliveryResult:
    """POST a JSON body and map the answer; network trouble means retry."""
    try:
        response = http.post(url, data=body, headers={"Content-Type": "application/json", **headers},
                             timeout=(min(timeout, 5.0), timeout))
    except requests.RequestException as exc:
        return DeliveryResult("retry", None, f"{exc.__class__.__name__}: {exc}")
    provider_id = None
    try:
        answer: Any = response.json()
        if isinstance(answer, dict):
            provider_id = str(answer.get("id") or answer.get("message_id") or "") or None
    except ValueError:
        answer = response.text[:200]
    return http_result(response.status_code, provider_id, str(answer)[:500])


def message_json(message: RenderedMessage) -> dict[str, Any]:
    """The JSON view of a message a third-party endpoint receives."""
    return {"request_id": message.request_id, "contact_id": message.contact_id, "channel": message.channel,
            "category": message.category, "campaign_id": message.campaign_id, "step_id": message.step_id,
            "priority": message.priority, "content": dict(message.content),
            "recipient": {"email": message.recipient.email, "phone": message.recipient.phone,
                          "first_name": message.recipient.first_name, "last_name": message.recipient.last_name}}


def encode(body: dict[str, Any]) -> bytes:
    """Compact JSON bytes (the exact bytes that get signed)."""
    return json.dumps(body, separators=(",", ":"), sort_keys=True, default=str).encode()
