"""The generic webhook adapter, the example third-party adapter: POST the message as JSON.

Options: url, secret_env (name of the environment variable holding the shared secret; default
`CHANNELS_WEBHOOK_SECRET`), timeout. The body is signed: `X-Touchpoint-Signature: sha256=<hex
HMAC-SHA256 of the raw body>`; the receiver recomputes it with the shared secret. Up to max_in_flight
(default 16) POSTs at once over one keep-alive pool. 2xx is sent
(the answer's `id` becomes the provider id), 408/429/5xx and network errors retry, other 4xx fail.
"""

from __future__ import annotations

import os

from services.channels.adapters.base import ChannelAdapter, DeliveryResult, RenderedMessage
from services.channels.adapters.http_common import encode, message_json, post_json, session
from services.channels.signing import SIGNATURE_HEADER, sign


class WebhookAdapter(ChannelAdapter):
    """Delivers messages to an HTTP endpoint with a signed JSON body."""

    rate_limit_per_second = 20.0
    max_in_flight = 16  # concurrent POSTs over a shared keep-alive pool

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.options.get("url"):
            raise ValueError(f"webhook adapter for {self.channel!r} needs a url")
        self.url = str(self.options["url"])
        secret_env = str(self.options.get("secret_env", "CHANNELS_WEBHOOK_SECRET"))
        self.secret = os.environ.get(secret_env, "")
        if not self.secret:
            raise ValueError(f"webhook adapter for {self.channel!r}: environment variable {secret_env} is empty")
        self.timeout = float(self.options.get("timeout", 10))
        self._http = session(self.max_in_flight)

    def send(self, message: RenderedMessage) -> DeliveryResult:
        """POST the signed message."""
        body = encode(message_json(message))
        return post_json(self._http, self.url, body,
                         {SIGNATURE_HEADER: sign(self.secret, body), "Idempotency-Key": message.request_id},
                         self.timeout)

    def close(self) -> None:
        """Close the HTTP session."""
        self._http.close()
