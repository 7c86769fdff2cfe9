"""Which queue feeds which handler in the contacts service (wiring only)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from services.contacts.handlers.events import on_interaction, on_message_outcome
from shared.config import Settings
from shared.messaging import QueueSpec, Subscription


def subscriptions(settings: Settings, engine: Engine) -> Sequence[Subscription]:
    """The contacts service's consumers: channel interactions, and message decisions/outcomes for the timeline."""
    return [
        Subscription(QueueSpec("contacts.interactions", bindings=("interaction.recorded",)), handler=on_interaction),
        Subscription(QueueSpec("contacts.message-outcomes", bindings=("message.#",)), handler=on_message_outcome),
    ]
