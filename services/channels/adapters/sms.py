"""SMS through an HTTP gateway API.

Options: url (the gateway's send endpoint), sender, token_env (bearer token) or username_env /
password_env (basic auth) naming environment variables, timeout, max_in_flight (concurrent requests,
default 16, over as many kept-alive connections). The request is
`POST url {"to", "from", "text", "reference"}`; the gateway answers `{"id": ...}`. Delivery
receipts and inbound messages come back through the signed `/webhooks/sms/*` endpoints.
"""

from __future__ import annotations

import json
import os

from services.channels.adapters.base import ChannelAdapter, DeliveryResult, RenderedMessage, RetryPolicy
from services.channels.adapters.http_common import post_json, session


class SmsGatewayAdapter(ChannelAdapter):
    """Sends SMS through an HTTP gateway."""

    rate_limit_per_second = 20.0
    retry_policy = RetryPolicy(max_attempts=4, backoff_seconds=5.0)
    seed_address = "phone"
    max_in_flight = 16  # a requests.Session with a connection pool of this size is thread-safe to share

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.url = str(self.options.get("url", "http://127.0.0.1:9090/messages"))
        self.sender = str(self.options.get("sender", "Touchpoint"))
        self.timeout = float(self.options.get("timeout", 10))
        self._http = session(self.max_in_flight)
        token_env = self.options.get("token_env")
        if token_env and os.environ.get(token_env):
            self._http.headers["Authorization"] = f"Bearer {os.environ[token_env]}"
        user_env, password_env = self.options.get("username_env"), self.options.get("password_env")
        if user_env and password_env:
            self._http.auth = (os.environ.get(user_env, ""), os.environ.get(password_env, ""))

    def send(self, message: RenderedMessage) -> DeliveryResult:
        """Hand one SMS to the gateway."""
        if not message.recipient.phone:
            return DeliveryResult("failed", None, "no phone number")
        text = message.personalise(message.content.get("text") or message.content.get("body"))
        body = json.dumps({"to": message.recipient.phone, "from": self.sender, "text": text,
                           "reference": message.request_id}).encode()
        return post_json(self._http, self.url, body, {"Idempotency-Key": message.request_id}, self.timeout)

    def close(self) -> None:
        """Close the HTTP session."""
        self._http.close()
