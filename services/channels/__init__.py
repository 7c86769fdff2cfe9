"""The channels service: the dispatch gate (contact policy), the touch ledger, adapters, delivery status,
the call-center task queue and web offers.

`create_app()` is the app factory; nothing else runs at import time.
"""

from __future__ import annotations

from functools import partial

from flask import Flask

from shared.clock import Clock
from shared.config import Settings


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Flask:
    """Build the channels HTTP app (`clock` lets tests fix the time the dry-run decides at)."""
    from services.channels import agents, api, webhooks
    from services.channels.consumers import subscriptions
    from services.channels.unit_of_work import ChannelsUnitOfWorkFactory
    from shared.clock import system_clock
    from shared.http import create_service_app

    settings = settings or Settings.from_env("channels")
    app = create_service_app(settings, "Touchpoint channels",
                             [*api.blueprints(), *agents.blueprints(), webhooks.blp],
                             description="Dispatch gate, decisions, deliveries, call-center tasks, web offers, "
                                         "provider webhooks",
                             queues=lambda: [s.spec for s in subscriptions(settings, None)],
                             clock=clock, units_of_work=partial(ChannelsUnitOfWorkFactory, clock=clock or system_clock))
    # Providers sign webhook bodies instead of presenting a key (services.channels.webhooks).
    app.extensions["touchpoint_api"].spec.components.security_scheme("WebhookSignature", {
        "type": "apiKey", "in": "header", "name": "X-Touchpoint-Signature",
        "description": "sha256=<hex HMAC-SHA256 of the raw body under the shared WEBHOOK_SECRET>"})
    return app
