"""Configuration from environment variables, with safe defaults for a developer machine.

Every setting has one name; services read them through `Settings.from_env()` so tests build a
`Settings` by hand instead of patching the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
DEFAULT_PG_ROOT = "postgresql+psycopg://postgres@127.0.0.1:5432"

SERVICES = ("contacts", "campaigns", "channels", "scheduler")
# Where each service's HTTP API listens on a developer machine; TOUCHPOINT_<SERVICE>_URL moves one.
# Here because both a service (the console) and the clients in tools/ need them.
DEFAULT_SERVICE_URLS = {"contacts": "http://127.0.0.1:8001", "campaigns": "http://127.0.0.1:8002",
                        "channels": "http://127.0.0.1:8003", "scheduler": "http://127.0.0.1:8004"}


def default_database_url(database: str) -> str:
    """Return the local PostgreSQL URL of `database` (trust auth, user postgres)."""
    return f"{DEFAULT_PG_ROOT}/{database}"


def database_url_for(service: str, env: dict[str, str] | None = None) -> str:
    """Return the database URL of a service: `<SERVICE>_DATABASE_URL`, else the local default."""
    env = os.environ if env is None else env
    return env.get(f"{service.upper()}_DATABASE_URL") or default_database_url(f"touchpoint_{service}")


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
            extra={k[len(prefix):].lower(): v for k, v in env.items() if k.startswith(prefix)},
        )

    def with_overrides(self, **changes: object) -> Settings:
        """Return a copy with some settings replaced (tests, CLI flags)."""
        return replace(self, **changes)
