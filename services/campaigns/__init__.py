"""The campaigns service: drip campaigns, interaction policies and broadcasts.

Campaign definitions and templates over REST; an enrollment engine that consumes contact facts,
due waits and send outcomes and publishes message requests; segment broadcasts streamed page by
page from the contacts service. `create_app()` is the app factory; nothing else runs at import time.
"""

from __future__ import annotations

from flask import Flask

from shared.clock import Clock
from shared.config import Settings


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Flask:
    """Build the campaigns HTTP app (`clock`: the views' now, the system clock unless a test gives one)."""
    from services.campaigns.api import blueprints
    from services.campaigns.unit_of_work import CampaignsUnitOfWorkFactory
    from shared.http import create_service_app

    settings = settings or Settings.from_env("campaigns")
    from services.campaigns.consumers import subscriptions

    return create_service_app(settings, "Touchpoint campaigns", blueprints(),
                              description="Campaign definitions, templates, previews and reports",
                              queues=lambda: [s.spec for s in subscriptions(settings, None)],
                              units_of_work=CampaignsUnitOfWorkFactory, clock=clock)
