"""The adapter interface: how a channel owner plugs a new channel into Touchpoint.

An adapter is a class with

- ``channel: str`` – the channel it serves (``message.requested`` payloads name it);
- ``rate_limit_per_second: float`` – the delivery worker's token bucket never exceeds it;
- ``retry_policy: RetryPolicy`` – attempts and backoff for ``retry`` results and exceptions;
- ``send(message: RenderedMessage) -> DeliveryResult`` – one attempt to hand the message to the
  provider. Return ``sent`` (with the provider's id), ``retry`` (temporary trouble: the worker
  tries again after the backoff, and records ``failed`` after the last attempt) or ``failed``
  (permanent: a refused address). An exception counts as ``retry``.
- ``max_in_flight: int`` – how many ``send`` calls the delivery lane runs at once (threads of the
  channel's lane). The base class says 1, which is always safe; an adapter that sets more must be
  thread-safe (the built-in SMTP adapter keeps a pool of that many connections, the HTTP ones a
  keep-alive pool of that size). Configuration may lower or raise it per channel.
- ``close()`` – release connections when the worker stops.
- ``seed_address: "email" | "phone" | None`` – what kind of address the adapter delivers to, for proof
  sends (``POST /proofs``) to seed addresses; None (the default) means the channel takes no proofs.
  A message with ``proof`` set is a marked copy for a seed address: the adapter must not add what
  acts for the contact (the SMTP adapter leaves out the unsubscribe link and adds
  ``X-Touchpoint-Proof: 1``).

The constructor takes ``(channel, options, context)``: ``options`` is the adapter's entry in the
``CHANNELS_ADAPTERS`` configuration (secrets are never in it: options name environment variables
that hold them), ``context`` gives access to the service's database and clock for adapters that
deliver into Touchpoint itself (the call-center queue, web offers).

Register a class through the ``touchpoint.adapters`` entry point group of any installed package,
or name it in the configuration as ``"adapter": "package.module:Class"``. Every delivery worker
owns its adapter instance; with ``max_in_flight`` 1 it is called by one thread at a time, so it
may keep one connection without locking. Slow providers are the normal case (50-300 ms per
message): only ``max_in_flight`` > 1 keeps such a channel fast, so make ``send`` thread-safe.

``send`` is called at least once per delivery, rarely twice (a worker that dies after the provider
accepted a message but before recording it): pass ``message.request_id`` to the provider as an
idempotency key where it has one (the SMTP adapter uses it as the Message-ID).
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine

from shared.config import Settings

DeliveryStatus = Literal["sent", "retry", "failed"]
# A thread per send in flight: beyond this a lane's threads cost more than they wait.
MAX_IN_FLIGHT_LIMIT = 256


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``max_attempts`` attempts, waiting ``backoff_seconds * multiplier**(n-1)`` (capped) after try n."""

    max_attempts: int = 5
    backoff_seconds: float = 2.0
    multiplier: float = 2.0
    max_backoff_seconds: float = 600.0

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.backoff_seconds * self.multiplier ** max(attempt - 1, 0), self.max_backoff_seconds)


@dataclass(frozen=True)
class Recipient:
    """Where and whom to deliver to."""

    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    # BCP 47 (`de-AT`): the language of the words an adapter adds itself (the email footer).
    locale: str | None = None

    @property
    def display_name(self) -> str:
        """First and last name joined, or empty."""
        return " ".join(p for p in (self.first_name, self.last_name) if p)


@dataclass(frozen=True)
class RenderedMessage:
    """One message ready to hand to a provider."""

    request_id: str
    contact_id: str
    channel: str
    category: str
    content: Mapping[str, Any]
    recipient: Recipient
    campaign_id: str | None = None
    step_id: str | None = None
    priority: int = 0
    expires_at: datetime | None = None
    attempt: int = 1
    topic: str | None = None  # the campaign topic of a marketing message (mortgage, ...), when it has one
    proof: bool = False  # a proof to a seed address (POST /proofs), not a message to the contact

    def personalise(self, text: str | None, extra: Mapping[str, str] | None = None) -> str:
        """``$first_name``, ``$last_name``, ``$email`` replaced for requesters that send unrendered text.

        `extra` adds the adapter's own placeholders (the email's `$preferences_url`)."""
        if not text:
            return ""
        values = {"first_name": self.recipient.first_name or "", "last_name": self.recipient.last_name or "",
                  "email": self.recipient.email or "", "name": self.recipient.display_name, **(extra or {})}
        return string.Template(text).safe_substitute(values)


@dataclass(frozen=True)
class DeliveryResult:
    """What one attempt achieved."""

    status: DeliveryStatus
    provider_id: str | None = None
    detail: str = ""


@dataclass
class AdapterContext:
    """What the service lends its adapters."""

    settings: Settings
    engine: Engine | None = None
    clock: Callable[[], datetime] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ChannelAdapter:
    """Base class of adapters; subclasses implement `send`. Options may override rate and retries."""

    channel: str = ""
    rate_limit_per_second: float = 50.0
    retry_policy: RetryPolicy = RetryPolicy()
    max_in_flight: int = 1  # sends at once; more only for thread-safe adapters
    seed_address: Literal["email", "phone"] | None = None  # the address a proof goes to; None: no proofs

    def __init__(self, channel: str, options: Mapping[str, Any] | None = None,
                 context: AdapterContext | None = None) -> None:
        self.channel = channel
        self.options = dict(options or {})
        self.context = context
        if "rate_limit_per_second" in self.options:
            self.rate_limit_per_second = float(self.options["rate_limit_per_second"])
        if "max_in_flight" in self.options:
            self.max_in_flight = int(self.options["max_in_flight"])
        if not 1 <= self.max_in_flight <= MAX_IN_FLIGHT_LIMIT:
            raise ValueError(f"max_in_flight of {channel!r} must be between 1 and {MAX_IN_FLIGHT_LIMIT}")
        overrides = {k: self.options[k] for k in ("max_attempts", "backoff_seconds", "multiplier",
                                                  "max_backoff_seconds") if k in self.options}
        if overrides:
            self.retry_policy = dataclasses.replace(self.retry_policy, **overrides)

    def send(self, message: RenderedMessage) -> DeliveryResult:
        """Make one delivery attempt."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (default: nothing to release)."""


def http_result(status_code: int, provider_id: str | None, detail: str) -> DeliveryResult:
    """Map an HTTP provider answer: 2xx sent; 408, 429 and 5xx retry; other 4xx failed for good."""
    if 200 <= status_code < 300:
        return DeliveryResult("sent", provider_id, detail)
    if status_code in (408, 425, 429) or status_code >= 500:
        return DeliveryResult("retry", None, f"HTTP {status_code}: {detail}")
    return DeliveryResult("failed", None, f"HTTP {status_code}: {detail}")
