"""What conditions and templates see of a contact: the local projection, loaded lazily.

Consents, suppressions and event history are read only when a condition asks for them, so a
broadcast to a segment whose campaign has no such condition costs no per-contact query.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from services.campaigns.domain.definition import DEFAULT_CHANNELS, Campaign, parse_definition
from services.campaigns.domain.filters import MappingContext

if TYPE_CHECKING:
    from services.campaigns.repository import CampaignStore, ContactProjection

HISTORY_WINDOW = timedelta(days=400)  # the longest `within=` a condition may usefully ask about
HISTORY_LIMIT = 500  # newest events per contact that did()/count() look at

CONTACT_FIELDS = ("contact_id", "external_id", "email", "phone", "first_name", "last_name", "locale",
                  "time_zone", "attributes")


def contact_view(row: Mapping[str, Any] | None, contact_id: str) -> dict[str, Any]:
    """A contact as conditions and templates read it (`contact.tier` falls back to attributes)."""
    if row is None:
        return {"contact_id": contact_id, "id": contact_id, "attributes": {}}
    view = {name: row.get(name) for name in CONTACT_FIELDS}
    view["attributes"] = dict(view.get("attributes") or {})
    view["id"] = view["contact_id"]
    return view


def event_view(event_id: str, event_type: str, occurred_at: datetime | str, data: Mapping[str, Any]) -> dict:
    """An event as conditions and templates read it: its data lifted to the top (`event.amount`)."""
    when = occurred_at.isoformat() if isinstance(occurred_at, datetime) else occurred_at
    return {**data, "event_id": event_id, "type": event_type, "occurred_at": when, "data": dict(data)}


def load_contact(contacts: ContactProjection, contact_id: str) -> dict[str, Any]:
    """The projected contact (a bare one when contacts has not told us about it yet)."""
    return contact_view(contacts.get(contact_id), contact_id)


class ContactContext:
    """The filter-language context of one contact and (optionally) one event, reading facts lazily."""

    def __init__(self, contacts: ContactProjection, contact: Mapping[str, Any], event: Mapping[str, Any] | None,
                 now: datetime) -> None:
        self.contacts = contacts
        self.contact = contact
        self.event = event
        self.now_at = now
        self._plain = MappingContext(contact=contact, event=event, now_at=now)
        self._full: MappingContext | None = None

    def _facts(self) -> MappingContext:
        if self._full is None:
            consents, suppressions, history = self.contacts.facts(
                self.contact["contact_id"], self.now_at - HISTORY_WINDOW, HISTORY_LIMIT)
            self._full = MappingContext(
                contact=self.contact, event=self.event, now_at=self.now_at,
                consents=consents, suppressions=suppressions, history=history,
            )
        return self._full

    def resolve(self, path: tuple[str, ...]) -> Any:
        """Contact and event fields from memory; `consent.<channel>` from the projection."""
        if path[0] == "consent":
            return self._facts().resolve(path)
        return self._plain.resolve(path)

    def has_consent(self, channel: str) -> bool:
        """Whether consent on the channel is granted."""
        return self._facts().has_consent(channel)

    def is_suppressed(self, channel: str | None, topic: str | None) -> bool:
        """Whether an active suppression applies."""
        return self._facts().is_suppressed(channel, topic)

    def events(self, event_type: str, since: datetime | None) -> Iterable[Mapping[str, Any]]:
        """The contact's recent events of a type."""
        return self._facts().events(event_type, since)

    def now(self) -> datetime:
        """The evaluation time."""
        return self.now_at


class CampaignCatalog:
    """Parsed campaign versions, cached: a version never changes once written."""

    def __init__(self, known_channels: Iterable[str] = DEFAULT_CHANNELS, size: int = 512) -> None:
        self.known_channels = frozenset(known_channels)
        self.size = size
        self._cache: OrderedDict[tuple[str, int], Campaign] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, store: CampaignStore, campaign_id: str, version: int) -> Campaign | None:
        """The parsed version, or None if it does not exist."""
        key = (campaign_id, version)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        raw = store.definition(campaign_id, version)
        if raw is None:
            return None
        # A stored version passed validation when it was saved; channels only ever get added.
        campaign = parse_definition(raw, self.known_channels | _send_channels(raw))
        with self._lock:
            self._cache[key] = campaign
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return campaign


def _send_channels(raw: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(s.get("channel") for s in raw.get("steps", []) if isinstance(s, Mapping) and s.get("channel"))
