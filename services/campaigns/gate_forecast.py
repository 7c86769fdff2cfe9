"""The channels service's forecast, asked over HTTP: what its gate would decide now for a chunk of contacts.

    POST {channels_url}/forecast
    X-API-Key: {channels_api_key}
    {"message": {channel, category, campaign_id, step_id, priority, topic, expires_at},
     "contacts": [{contact_id, time_zone}, ...] (at most 5,000), "at": ..., "capacity_taken": {rule id: units}}
    -> {"evaluated", "by_outcome", "by_rule": [{outcome, reason, rule_id, count}], "capacity_taken", "evaluated_at"}

Campaigns knows the gate only through this contract (docs/channels.md, "Forecast"); `GateForecast` is the
seam, so unit tests pass a fake.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import requests

from services.campaigns.http_json import json_answer

CHUNK = 5000  # channels' limit per request


class GateUnavailable(RuntimeError):
    """The channels service could not answer (network, status, or an answer of the wrong shape)."""


class GateForecast(Protocol):
    """Asks the gate what it would decide for one message to a chunk of contacts."""

    def forecast(self, message: Mapping[str, Any], contacts: Sequence[Mapping[str, Any]], at: datetime,
                 capacity_taken: Mapping[str, int]) -> dict[str, Any]:
        """The gate's counts for these contacts (at most `CHUNK`); raise GateUnavailable."""
        ...


class HttpGateForecast:
    """`POST /forecast` of the channels service, with one pooled session."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 30.0,
                 session: requests.Session | None = None) -> None:
        self.url = base_url.rstrip("/") + "/forecast"
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers["X-API-Key"] = api_key

    def forecast(self, message: Mapping[str, Any], contacts: Sequence[Mapping[str, Any]], at: datetime,
                 capacity_taken: Mapping[str, int]) -> dict[str, Any]:
        """POST one chunk; raise GateUnavailable on anything but a 200 with the documented shape."""
        body = {"message": dict(message), "contacts": [dict(c) for c in contacts], "at": at.isoformat(),
                "capacity_taken": dict(capacity_taken)}
        answer = json_answer(self.session, "POST", self.url, GateUnavailable, self.timeout, json=body)
        if (not isinstance(answer, Mapping) or not isinstance(answer.get("by_rule"), list)
                or not isinstance(answer.get("evaluated"), int)):
            raise GateUnavailable(f"POST {self.url} answered without 'evaluated' and a 'by_rule' list")
        return dict(answer)

    def close(self) -> None:
        """Release the session's connections."""
        self.session.close()


def gate_from_settings(extra: Mapping[str, str]) -> HttpGateForecast | None:
    """The client configured by CAMPAIGNS_CHANNELS_URL and CAMPAIGNS_CHANNELS_API_KEY (else the contacts key,
    CAMPAIGNS_CONTACTS_API_KEY: one service key with the marketer role serves both), if any."""
    url = extra.get("channels_url")
    if not url:
        return None
    return HttpGateForecast(url, extra.get("channels_api_key") or extra.get("contacts_api_key", ""))
