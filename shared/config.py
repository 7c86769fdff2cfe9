"""Configuration from environment variables, with safe defaults for a developer machine.

Every setting has one name; services read them through `Settings.from_env()` so tests build a
`Settings` by hand instead of patching the environment.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
DEFAULT_PG_ROOT = "postgresql+psycopg://postgres@127.0.0.1:5432"

# The contacts service's public base URL in a local run: one-click unsubscribe links point there.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8001"
SERVICES = ("contacts", "campaigns", "channels", "scheduler")
# Where each service's HTTP API listens on a developer machine; TOUCHPOINT_<SERVICE>_URL moves one.
# Here because both a service (the console) and the clients in tools/ need them.
DEFAULT_SERVICE_URLS = {"contacts": "http://127.0.0.1:8001", "campaigns": "http://127.0.0.1:8002",
                        "channels": "http://127.0.0.1:8003", "scheduler": "http://127.0.0.1:8004"}
# CHANNELS_ADAPTERS of a deployment that does not set it: the default channels and their adapters,
# written once. The channels service builds its adapters from it (services/channels/adapters/registry.py
# DEFAULT_CONFIG is this map); campaigns accepts send steps on its keys (DEFAULT_CHANNELS).
DEFAULT_CHANNELS_ADAPTERS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "email": MappingProxyType({"adapter": "smtp"}),
    "sms": MappingProxyType({"adapter": "sms_gateway"}),
    "call": MappingProxyType({"adapter": "call_center"}),
    "web": MappingProxyType({"adapter": "web_offers"}),
})
DEFAULT_CHANNELS = tuple(DEFAULT_CHANNELS_ADAPTERS)

log = logging.getLogger(__name__)


def default_database_url(database: str) -> str:
    """Return the local PostgreSQL URL of `database` (trust auth, user postgres)."""
    return f"{DEFAULT_PG_ROOT}/{database}"


def database_url_for(service: str, env: dict[str, str] | None = None) -> str:
    """Return the database URL of a service: `<SERVICE>_DATABASE_URL`, else the local default."""
    env = os.environ if env is None else env
    return env.get(f"{service.upper()}_DATABASE_URL") or default_database_url(f"touchpoint_{service}")


def channel_names(env: Mapping[str, str], service: str = "") -> tuple[str, ...]:
    """The deployment's channels, configured once: the enabled keys of `CHANNELS_ADAPTERS`.

    The channels service builds its adapters from that JSON map; campaigns accepts send steps on
    exactly its channels. `CAMPAIGNS_CHANNELS` (the old second list) still wins for one release,
    with a deprecation line. A value that is not a JSON object gives the defaults here: the
    channels service refuses to start on it, which is where the error belongs.
    """
    legacy = env.get("CAMPAIGNS_CHANNELS", "")
    if legacy.strip():
        if service == "campaigns":
            log.warning("CAMPAIGNS_CHANNELS is deprecated and will be removed in the next release: campaigns "
                        "reads the channels from CHANNELS_ADAPTERS (docs/channels.md, 'Adding a channel')")
        return tuple(sorted({c.strip() for c in legacy.split(",") if c.strip()}))
    try:
        adapters = json.loads(env.get("CHANNELS_ADAPTERS") or "null")
    except json.JSONDecodeError:
        adapters = None
    if not isinstance(adapters, dict):
        return DEFAULT_CHANNELS
    return tuple(sorted(name for name, entry in adapters.items() if entry is not None))


@dataclass(frozen=True)
class Settings:
    """Runtime settings of one service process."""

    service: str
    database_url: str
    auth_database_url: str = field(default_factory=lambda: default_database_url("touchpoint_auth"))
    amqp_url: str = DEFAULT_AMQP_URL
    namespace: str = "touchpoint"
    log_level: str = "INFO"
    max_body_bytes: int = 1_048_576
    # HMAC secret of inbound webhooks (SMTP bounces, SMS receipts); empty means webhooks are refused.
    webhook_secret: str = ""
    queue_type: str = "classic"
    # One-click unsubscribe (shared.unsubscribe): the signing secret, then an older one still accepted
    # while it is rotated out; empty means marketing email carries no link and /u/ refuses every token.
    unsubscribe_secrets: tuple[str, ...] = ()
    # Where contacts' public pages (/u/<token>) are reached from a mail client: the base of the link.
    public_url: str = DEFAULT_PUBLIC_URL
    # Channel names of the deployment (channel_names): the one list campaigns validates send steps against.
    channels: tuple[str, ...] = DEFAULT_CHANNELS
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, service: str, env: dict[str, str] | None = None) -> Settings:
        """Read the settings of `service` from the environment."""
        env = dict(os.environ if env is None else env)
        prefix = f"{service.upper()}_"
        return cls(
            service=service,
            database_url=database_url_for(service, env),
            auth_database_url=env.get("AUTH_DATABASE_URL") or default_database_url("touchpoint_auth"),
            amqp_url=env.get("AMQP_URL") or DEFAULT_AMQP_URL,
            namespace=env.get("TOUCHPOINT_NAMESPACE") or "touchpoint",
            log_level=env.get("LOG_LEVEL") or "INFO",
            max_body_bytes=int(env.get("MAX_BODY_BYTES") or 1_048_576),
            webhook_secret=env.get("WEBHOOK_SECRET") or "",
            queue_type=env.get("QUEUE_TYPE") or "classic",
            unsubscribe_secrets=tuple(s for s in (env.get("UNSUBSCRIBE_SECRET"),
                                                  env.get("UNSUBSCRIBE_PREVIOUS_SECRET")) if s),
            public_url=(env.get("TOUCHPOINT_PUBLIC_URL") or DEFAULT_PUBLIC_URL).rstrip("/"),
            channels=channel_names(env, service),
            extra={k[len(prefix):].lower(): v for k, v in env.items() if k.startswith(prefix)},
        )

    def with_overrides(self, **changes: object) -> Settings:
        """Return a copy with some settings replaced (tests, CLI flags)."""
        return replace(self, **changes)
