"""Behavioural events, interactions and message outcomes onto the timeline; reading the timeline."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.contacts.domain.ids import is_uuid
from services.contacts.handlers.common import iso, load_contact
from services.contacts.handlers.preferences import add_suppression
from services.contacts.unit_of_work import ContactsUnitOfWork
from shared.contracts import SUPPRESSION_REASONS, SUPPRESSION_SCOPES
from shared.http.cursor import aware_datetime, decode_cursor, next_page
from shared.messaging import Message

log = logging.getLogger(__name__)

# Fields of a message outcome worth keeping on the timeline; the original request (recipient
# details, content) is left out so the timeline holds no copy of PII or message bodies.
OUTCOME_FIELDS = ("request_id", "channel", "outcome", "reason", "rule_id", "detail", "campaign_id",
                  "campaign_version", "step_id", "occurrence", "category", "defer_until")


class UnknownContact(LookupError):
    """A message names a contact this service does not know (retried, then dead-lettered)."""


def _resolve(uow: ContactsUnitOfWork, items: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    ids = {i["contact_id"] for i in items if i.get("contact_id") and is_uuid(i["contact_id"])}
    external = {i["external_id"] for i in items if i.get("external_id")}
    if not ids and not external:
        return {}, {}
    rows = uow.contacts.resolve(ids, external)
    # A merged contact's events land on its survivor (tombstones always point at a live-or-erased
    # survivor, never at another tombstone: a merge re-points the older ones).
    survivors = {r.merged_into for r in rows if r.merged_into is not None}
    by_id = {r.id: r for r in uow.contacts.resolve(survivors, [])} if survivors else {}
    by_id.update({r.id: r for r in rows})
    return by_id, {r.external_id: r for r in rows if r.external_id}


def _store(uow: ContactsUnitOfWork, rows: list[dict[str, Any]]) -> set[str]:
    """Insert events (new event_ids only), put them on the timeline and announce them; return the stored ids."""
    if not rows:
        return set()
    stored = uow.events.store_new(rows)
    for r in (r for r in rows if r["event_id"] in stored):
        uow.publish(f"contact.event.{r['type']}", {
            "event_id": r["event_id"], "contact_id": r["contact_id"], "type": r["type"],
            "occurred_at": iso(r["occurred_at"]), "data": r["data"]}, key=r["contact_id"])
    return stored


def record_events(uow: ContactsUnitOfWork, items: Sequence[dict[str, Any]], source: str = "api") -> list[dict[str, Any]]:
    """Store a batch of validated events; per item: accepted, duplicate, or rejected with its reason."""
    by_id, by_external = _resolve(uow, items)
    results: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in items:
        result = {"event_id": item["event_id"], "status": "accepted"}
        results.append(result)
        contact = by_id.get(item.get("contact_id")) or by_external.get(item.get("external_id"))
        if item.get("contact_id") and item.get("external_id") and contact is not None \
                and contact.external_id != item["external_id"]:
            result.update(status="rejected", reason="contact_id and external_id name different contacts")
            continue
        if contact is not None and contact.merged_into is not None:
            contact = by_id.get(contact.merged_into)  # a merged profile's events land on its survivor
        if contact is None:
            result.update(status="rejected", reason="unknown contact")
        elif contact.erased_at is not None:
            result.update(status="rejected", reason="the contact was erased")
        elif item["event_id"] in seen:
            result["status"] = "duplicate"
        else:
            seen.add(item["event_id"])
            result["contact_id"] = contact.id
            rows.append({"event_id": item["event_id"], "contact_id": contact.id, "type": item["type"],
                         "occurred_at": item["occurred_at"], "data": item.get("data") or {}, "source": source})
    stored = _store(uow, rows)
    for result in results:
        if result["status"] == "accepted" and result["event_id"] not in stored:
            result["status"] = "duplicate"
    return results


def on_interaction(uow: ContactsUnitOfWork, message: Message) -> None:
    """`interaction.recorded`: a suppression request becomes a suppression, anything else an event."""
    payload = message.payload
    contact_id = payload["contact_id"]
    row = uow.contacts.erased_state(contact_id) if is_uuid(contact_id) else None
    if row is not None and row.merged_into is not None:  # a merged profile's interactions land on its survivor
        contact_id = row.merged_into
        row = uow.contacts.erased_state(contact_id)
    if row is None:
        raise UnknownContact(f"interaction {payload['interaction_id']} names unknown contact {contact_id}")
    if payload["type"] == "suppression_requested":
        data = payload["data"]
        if data.get("scope") not in SUPPRESSION_SCOPES or data.get("reason") not in SUPPRESSION_REASONS \
                or not isinstance(data.get("value"), str | None):
            raise ValueError(f"suppression_requested needs data.scope in {SUPPRESSION_SCOPES}, "
                             f"data.reason in {SUPPRESSION_REASONS} and a string data.value")
        add_suppression(uow, contact_id, {"scope": data.get("scope"), "value": data.get("value"),
                                          "reason": data.get("reason"), "source": f"interaction:{message.source}"},
                        source_ref=payload["interaction_id"], allow_erased=True)
        return
    if row.erased_at is not None:
        log.info("interaction for an erased contact not stored", extra={"contact_id": contact_id})
        return
    _store(uow, [{"event_id": payload["interaction_id"], "contact_id": contact_id, "type": payload["type"],
                  "occurred_at": payload["occurred_at"], "data": payload["data"], "source": "interaction"}])


def on_message_outcome(uow: ContactsUnitOfWork, message: Message) -> None:
    """`message.<outcome>` from channels: a touch or a decision on the contact's timeline."""
    on_message_outcomes(uow, [message])


def on_message_outcomes(uow: ContactsUnitOfWork, messages: Sequence[Message]) -> None:
    """A batch of `message.<outcome>`s onto their contacts' timelines, in delivery order.

    One read of the contacts' states and one insert for the whole batch: an outcome per send made
    a lookup and an insert per message the contacts worker's largest cost in a broadcast.
    """
    outcomes = [m for m in messages if m.type != "message.requested"]  # requests are the campaigns' business
    ids = {m.payload["contact_id"] for m in outcomes if is_uuid(m.payload["contact_id"])}
    live = uow.contacts.live_ids(ids) if ids else set()
    moved = uow.contacts.redirects(ids - live) if ids - live else {}
    rows = []
    for message in outcomes:
        payload = message.payload
        contact_id = moved.get(payload["contact_id"], payload["contact_id"])
        if contact_id not in live and contact_id not in moved.values():
            log.info("outcome for an unknown or erased contact not stored",
                     extra={"contact_id": payload["contact_id"], "message_id": message.id})
            continue
        data = {name: payload.get(name) for name in OUTCOME_FIELDS if payload.get(name) is not None}
        data = {k: iso(v) if isinstance(v, datetime) else v for k, v in data.items()}
        rows.append({"contact_id": contact_id, "kind": "message", "type": payload["outcome"],
                     "occurred_at": payload["decided_at"], "data": data, "ref": payload["request_id"]})
    if rows:
        uow.contacts.add_timeline_many(rows)


def timeline_page(uow: ContactsUnitOfWork, contact_id: str, limit: int, cursor: str | None) -> dict[str, Any]:
    """The contact's timeline, newest first, one page."""
    load_contact(uow, contact_id)
    position = decode_cursor(cursor, {"at": aware_datetime, "id": int})
    rows = uow.contacts.timeline_page(contact_id, before=(position["at"], position["id"]) if position else None,
                                      limit=limit + 1)
    page, next_cursor = next_page(rows, limit, lambda last: {"at": iso(last.occurred_at), "id": last.id})
    items = [{"kind": r.kind, "type": r.type, "occurred_at": r.occurred_at, "ref": r.ref, "data": r.data}
             for r in page]
    return {"items": items, "next_cursor": next_cursor}
