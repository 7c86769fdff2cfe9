"""Which queue feeds which handler in the contacts service (wiring only)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from shared.config import Settings
from shared.messaging import Subscription


def subscriptions(settings: Settings, engine: Engine) -> Sequence[Subscription]:
    """The contacts service's consumers."""
    return []
