"""The console's settings, from the environment (it has no database and no broker of its own)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from shared.config import DEFAULT_SERVICE_URLS as DEFAULT_URLS

SERVICES = ("contacts", "campaigns", "channels", "scheduler")


@dataclass(frozen=True)
class ConsoleSettings:
    """Where the services are, how sessions are signed, and how long they last."""

    service_urls: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_URLS))
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    session_minutes: int = 480
    secure_cookies: bool = False
    refresh_seconds: int = 15
    timeout_seconds: float = 15.0
    metric_readings: int = 60

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ConsoleSettings:
        """CONSOLE_SECRET_KEY (sessions survive restarts and replicas agree; random otherwise),
        TOUCHPOINT_<SERVICE>_URL, CONSOLE_SESSION_MINUTES, CONSOLE_SECURE_COOKIES (1 behind HTTPS),
        CONSOLE_REFRESH_SECONDS (how often the agents' queue and the health page reload themselves),
        CONSOLE_METRIC_READINGS (how many /metrics readings are kept per API process for the rate charts)."""
        env = dict(os.environ if env is None else env)
        urls = {name: (env.get(f"TOUCHPOINT_{name.upper()}_URL") or DEFAULT_URLS[name]).rstrip("/")
                for name in SERVICES}
        return cls(service_urls=urls,
                   secret_key=env.get("CONSOLE_SECRET_KEY") or secrets.token_hex(32),
                   session_minutes=int(env.get("CONSOLE_SESSION_MINUTES") or 480),
                   secure_cookies=(env.get("CONSOLE_SECURE_COOKIES") or "").lower() in ("1", "true", "yes"),
                   refresh_seconds=int(env.get("CONSOLE_REFRESH_SECONDS") or 15),
                   metric_readings=int(env.get("CONSOLE_METRIC_READINGS") or 60))
