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
    from services.contacts.consumers import subscriptions
    from services.contacts.schemas import EventSchema
    from services.contacts.unit_of_work import ContactsUnitOfWorkFactory
    from shared.http import create_service_app

    settings = settings or Settings.from_env("contacts")
    app = create_service_app(settings, "Touchpoint contacts", blueprints(),
                             description="Contacts, consent, suppressions, events, segments, timeline",
                             queues=lambda: [s.spec for s in subscriptions(settings, None)],
                             units_of_work=lambda engine: ContactsUnitOfWorkFactory(engine, settings.service))
    # POST /events takes one Event or a list of them; the schema is named so the doc can refer to it.
    app.extensions["touchpoint_api"].spec.components.schema("Event", schema=EventSchema)
    return app
