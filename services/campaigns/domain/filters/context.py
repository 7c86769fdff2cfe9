"""MappingContext: an EvaluationContext over plain dicts, ready for the campaigns service to use."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.campaigns.domain.filters.evaluate import walk
from shared.filters.values import GRANTED


@dataclass(frozen=True, kw_only=True)
class MappingContext:
    """One contact (and optionally the triggering event) as plain data.

    consents: channel -> status ('granted' means yes); suppressions: {scope: 'global'|'channel'|'topic',
    value, expires_at (None = forever)}; history: the contact's events {type, occurred_at, data};
    now_at: the evaluation time. (`events`/`now` are the protocol's method names, hence these field names.)
    """

    contact: Mapping[str, Any]
    event: Mapping[str, Any] | None = None
    consents: Mapping[str, str] = field(default_factory=dict)
    suppressions: Sequence[Mapping[str, Any]] = ()
    history: Sequence[Mapping[str, Any]] = ()
    now_at: datetime

    def resolve(self, path: tuple[str, ...]) -> Any:
        """contact.x / bare x: a contact key, else attributes.x; event.x: an event key, else data.x."""
        root, rest = path[0], path[1:]
        if root == "contact":
            return _with_fallback(self.contact, rest, "attributes")
        if root == "event":
            return None if self.event is None else _with_fallback(self.event, rest, "data")
        if root == "consent":
            return self.consents.get(rest[0]) if len(rest) == 1 else None
        return _with_fallback(self.contact, path, "attributes")

    def has_consent(self, channel: str) -> bool:
        """Whether consent on the channel is 'granted'."""
        return self.consents.get(channel) == GRANTED

    def is_suppressed(self, channel: str | None, topic: str | None) -> bool:
        """Whether an unexpired suppression is global or matches the channel or topic."""
        for suppression in self.suppressions:
            expires_at = suppression.get("expires_at")
            if expires_at is not None and expires_at <= self.now_at:
                continue
            scope, value = suppression.get("scope"), suppression.get("value")
            if (
                scope == "global"
                or (scope == "channel" and channel is not None and value == channel)
                or (scope == "topic" and topic is not None and value == topic)
            ):
                return True
        return False

    def events(self, event_type: str, since: datetime | None) -> Iterable[Mapping[str, Any]]:
        """Data of the contact's events of the type that occurred at or after `since`."""
        for event in self.history:
            if event.get("type") == event_type and (since is None or event["occurred_at"] >= since):
                yield event.get("data") or {}

    def now(self) -> datetime:
        """The fixed evaluation time."""
        return self.now_at


def _with_fallback(mapping: Mapping[str, Any], path: tuple[str, ...], nested: str) -> Any:
    if not path:
        return mapping
    if path[0] in mapping:
        return walk(mapping, path)
    return walk(mapping.get(nested), path)
