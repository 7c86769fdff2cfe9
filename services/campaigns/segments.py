"""Where broadcast audiences come from: the contacts service's segment members, one page at a time.

The one synchronous call campaigns makes to another service:

    GET {contacts_url}/segments/{segment_id}/members?after=<contact_id>&limit=1000
    X-API-Key: {contacts_api_key}
    -> {"items": [{contact_id, external_id, email, phone, first_name, last_name, locale, time_zone,
                   attributes}], "next_after": <contact_id or null>}

Pages are keyset-paginated by contact id, so a broadcast streams a segment of any size and never
holds more than one page in memory. `SegmentSource` is the seam: the worker wires the HTTP client,
unit tests and the benchmark an in-memory list.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from services.campaigns.http_json import json_answer

PAGE_SIZE = 1000
MEMBER_FIELDS = ("contact_id", "external_id", "email", "phone", "first_name", "last_name", "locale",
                 "time_zone", "attributes")


class SegmentUnavailable(RuntimeError):
    """The segment could not be read (network, status, or an answer of the wrong shape)."""


@dataclass(frozen=True)
class SegmentPage:
    """One page of segment members and the cursor of the next page (None: this was the last)."""

    items: Sequence[Mapping[str, Any]]
    next_after: str | None


class SegmentSource(Protocol):
    """Reads a segment's members in contact-id order, a page at a time."""

    def page(self, segment_id: str, after: str | None, limit: int = PAGE_SIZE) -> SegmentPage:
        """Members with contact_id > `after` (all when None), at most `limit` of them."""
        ...


def member(raw: Any) -> dict[str, Any]:
    """Check one member of an answer and keep the documented fields; raise SegmentUnavailable."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("contact_id"), str) or not raw["contact_id"]:
        raise SegmentUnavailable(f"segment member without a contact_id: {str(raw)[:200]}")
    attributes = raw.get("attributes")
    item = {name: raw.get(name) for name in MEMBER_FIELDS}
    item["attributes"] = dict(attributes) if isinstance(attributes, Mapping) else {}
    return item


class HttpSegmentSource:
    """The contacts service's members endpoint over HTTP, with one pooled session."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 30.0,
                 session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers["X-API-Key"] = api_key

    def page(self, segment_id: str, after: str | None, limit: int = PAGE_SIZE) -> SegmentPage:
        """GET one page; raise SegmentUnavailable so the message is retried, then dead-lettered."""
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params["after"] = after
        url = f"{self.base_url}/segments/{requests.utils.quote(segment_id, safe='')}/members"
        body = json_answer(self.session, "GET", url, SegmentUnavailable, self.timeout, params=params)
        if not isinstance(body, Mapping) or not isinstance(body.get("items"), list):
            raise SegmentUnavailable(f"GET {url} answered without an 'items' list")
        next_after = body.get("next_after")
        if next_after is not None and not isinstance(next_after, str):
            raise SegmentUnavailable(f"GET {url} answered a non-string next_after")
        return SegmentPage([member(raw) for raw in body["items"]], next_after)

    def close(self) -> None:
        """Release the session's connections."""
        self.session.close()


class InMemorySegmentSource:
    """Segments held in memory as lists of members (tests, the benchmark)."""

    def __init__(self, segments: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        self.segments = {sid: sorted(items, key=lambda m: m["contact_id"]) for sid, items in segments.items()}
        self._ids = {sid: [m["contact_id"] for m in items] for sid, items in self.segments.items()}

    def page(self, segment_id: str, after: str | None, limit: int = PAGE_SIZE) -> SegmentPage:
        """The members after `after`, in contact-id order."""
        if segment_id not in self.segments:
            raise SegmentUnavailable(f"no segment {segment_id!r}")
        members = self.segments[segment_id]
        start = 0 if after is None else bisect.bisect_right(self._ids[segment_id], after)
        items = [member(m) for m in members[start:start + limit]]
        more = start + limit < len(members)
        return SegmentPage(items, items[-1]["contact_id"] if more and items else None)


def source_from_settings(extra: Mapping[str, str]) -> HttpSegmentSource | None:
    """The HTTP source configured by CAMPAIGNS_CONTACTS_URL / CAMPAIGNS_CONTACTS_API_KEY, if any."""
    url = extra.get("contacts_url")
    if not url:
        return None
    return HttpSegmentSource(url, extra.get("contacts_api_key", ""))
