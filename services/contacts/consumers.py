"""Which queue feeds which handler in the contacts service (wiring only)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from services.contacts.handlers.events import on_interaction, on_message_outcome
from services.contacts.unit_of_work import ContactsUnitOfWork
from shared.config import Settings
from shared.messaging import Message, QueueSpec, Subscription, UnitOfWork


def interaction(uow: UnitOfWork, message: Message) -> None:
    """`contacts.interactions` -> `handlers.events.on_interaction`."""
    on_interaction(ContactsUnitOfWork(uow), message)


def message_outcome(uow: UnitOfWork, message: Message) -> None:
    """`contacts.message-outcomes` -> `handlers.events.on_message_outcome`."""
    on_message_outcome(ContactsUnitOfWork(uow), message)


def subscriptions(settings: Settings, engine: Engine) -> Sequence[Subscription]:
    """The contacts service's consumers: channel interactions, and message decisions/outcomes for the timeline."""
    return [
        Subscription(QueueSpec("contacts.interactions", bindings=("interaction.recorded",)), handler=interaction),
        Subscription(QueueSpec("contacts.message-outcomes", bindings=("message.#",)), handler=message_outcome),
    ]
