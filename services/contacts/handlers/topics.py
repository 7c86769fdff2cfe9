"""The topic catalogue: the topics campaigns use, with the labels the preference center shows."""

from __future__ import annotations

from typing import Any

from services.contacts.domain.preferences import TOPIC_KEY
from services.contacts.unit_of_work import ContactsUnitOfWork
from shared.errors import Invalid, NotFound

TOPIC_COLUMNS = ("key", "labels", "created_at", "updated_at")


def _view(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in TOPIC_COLUMNS}


def _checked(key: str) -> str:
    if not TOPIC_KEY.fullmatch(key):
        raise Invalid.fields({"key": "1 to 64 characters: lower-case letters, digits, '_', '.', '-', "
                                     "starting with a letter or digit"})
    return key


def list_topics(uow: ContactsUnitOfWork) -> list[dict[str, Any]]:
    """Every topic of the catalogue, by key."""
    return [_view(row) for row in uow.topics.all()]


def put_topic(uow: ContactsUnitOfWork, key: str, labels: dict[str, str]) -> dict[str, Any]:
    """Create a topic or replace its labels (idempotent)."""
    return _view(uow.topics.put(_checked(key), labels, uow.clock.now()))


def delete_topic(uow: ContactsUnitOfWork, key: str) -> None:
    """Take a topic off the preference center; contacts' suppressions of it stay (and keep it shown to them)."""
    if not uow.topics.delete(key[:64]):
        raise NotFound(f"no topic {key[:64]!r}")
