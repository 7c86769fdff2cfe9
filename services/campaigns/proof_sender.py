"""The channels service's proof sends, asked over HTTP: deliver one rendered message to seed addresses.

    POST {channels_url}/proofs
    X-API-Key: {channels_api_key}
    {"proof_id", "channel", "category", "content": {subject, body, html}, "recipients": [...],
     "campaign_id", "step_id", "contact_id", "topic"}
    -> {"proof_id", "channel", "deliveries": [{"to", "status": sent | failed | refused, "detail", "provider_id"}]}

Campaigns knows proof delivery only through this contract (docs/channels.md, "Proofs"); `ProofSender` is
the seam, so unit tests pass a fake. The same settings as the gate's forecast (gate_forecast.py) say where
channels is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import requests

from services.campaigns.http_json import json_answer


class ProofUnavailable(RuntimeError):
    """The channels service could not take the proof (network, status, or an answer of the wrong shape)."""


class ProofSender(Protocol):
    """Delivers one proof to its seed addresses."""

    def send(self, proof: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One delivery result per seed address; raise ProofUnavailable."""
        ...


class HttpProofSender:
    """`POST /proofs` of the channels service, with one pooled session."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 60.0,
                 session: requests.Session | None = None) -> None:
        self.url = base_url.rstrip("/") + "/proofs"
        self.timeout = timeout  # the sends happen while channels answers: a slow provider's whole round
        self.session = session or requests.Session()
        self.session.headers["X-API-Key"] = api_key

    def send(self, proof: Mapping[str, Any]) -> list[dict[str, Any]]:
        """POST one proof; raise ProofUnavailable on anything but a 200 with a `deliveries` list."""
        answer = json_answer(self.session, "POST", self.url, ProofUnavailable, self.timeout, json=dict(proof))
        if not isinstance(answer, Mapping) or not isinstance(answer.get("deliveries"), list):
            raise ProofUnavailable(f"POST {self.url} answered without a 'deliveries' list")
        return list(answer["deliveries"])

    def close(self) -> None:
        """Release the session's connections."""
        self.session.close()


def proofs_from_settings(extra: Mapping[str, str]) -> HttpProofSender | None:
    """The client configured by CAMPAIGNS_CHANNELS_URL and CAMPAIGNS_CHANNELS_API_KEY (else
    CAMPAIGNS_CONTACTS_API_KEY), as for the forecast; None without a URL."""
    url = extra.get("channels_url")
    if not url:
        return None
    return HttpProofSender(url, extra.get("channels_api_key") or extra.get("contacts_api_key", ""))
