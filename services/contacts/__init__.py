"""The contacts service: the single point of truth for customers.

Contacts, attributes, consent per channel, suppressions, events, segments and the timeline of
every touch. `create_app()` is the app factory; nothing else runs at import time.
"""

from __future__ import annotations

from flask import Flask

from shared.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the contacts HTTP app."""
    from services.contacts.api import blueprints
    from shared.http import create_service_app

    settings = settings or Settings.from_env("contacts")
    return create_service_app(settings, "Touchpoint contacts", blueprints(),
                              description="Contacts, consent, suppressions, events, segments, timeline")
