"""The channels service's copy of contact facts: profile, consent, suppressions, erasure.

Each batch takes its contacts' policy locks first, the same lock the gate decides under, so a
decision made after a suppression was applied here sees it. Facts carry their own change time and
an older fact never overwrites a newer one, which makes redelivery and reordering harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.channels.messages import interaction_payload
from services.channels.unit_of_work import ChannelsUnitOfWork
from shared.messaging import Message

ERASED_SUPPRESSION_ID = "erased"
MERGED_SUPPRESSION_ID = "merged"
PROFILE_FIELDS = ("time_zone", "email", "phone", "first_name", "last_name", "locale")


def on_suppression_changed(uow: ChannelsUnitOfWork, p: dict[str, Any]) -> None:
    """contact.suppression.changed"""
    uow.contacts.upsert_suppression(p["contact_id"], p["suppression_id"], p["scope"], p.get("value"), p["reason"],
                                    p["active"], p["changed_at"], p.get("expires_at"))


def on_consent_changed(uow: ChannelsUnitOfWork, p: dict[str, Any]) -> None:
    """contact.consent.changed"""
    uow.contacts.upsert_consent(p["contact_id"], p["channel"], p["status"], p["changed_at"])


def on_upserted(uow: ChannelsUnitOfWork, p: dict[str, Any]) -> None:
    """contact.upserted: keep the reachability fields (never for an erased contact)."""
    uow.contacts.update_profile(p["contact_id"], {k: p.get(k) for k in PROFILE_FIELDS}, p["updated_at"])


def on_erased(uow: ChannelsUnitOfWork, p: dict[str, Any]) -> None:
    """contact.erased: drop every copy of personal data, keep a global `erased` suppression forever."""
    cid = p["contact_id"]
    uow.contacts.erase(cid)
    uow.contacts.upsert_suppression(cid, ERASED_SUPPRESSION_ID, "global", None, "erased", True, p["erased_at"])
    uow.jobs.forget_requests(cid)
    uow.agent_queue.erase(cid)
    uow.planned.forget_contact(cid)


def on_merged(uow: ChannelsUnitOfWork, p: dict[str, Any]) -> None:
    """contact.merged: the duplicate's touches, decisions and plans become the survivor's; its facts go.

    The survivor's consent and suppressions arrived before this (contacts announces what the survivor
    gained, keyed like this message). The duplicate's copy is blanked like an erased contact's and
    keeps one global `merged` suppression, so a request still addressed to it (a campaign that has
    not moved its enrollment yet) is suppressed instead of reaching the person a second time.
    """
    survivor, duplicate = p["contact_id"], p["duplicate_id"]
    uow.ledger.move_contact(duplicate, survivor)
    uow.decisions.move_contact(duplicate, survivor)
    uow.planned.move_contact(duplicate, survivor)
    uow.contacts.forget_facts(duplicate)
    uow.contacts.erase(duplicate)
    uow.contacts.upsert_suppression(duplicate, MERGED_SUPPRESSION_ID, "global", None, "merged", True, p["merged_at"])


HANDLERS = {
    "contact.suppression.changed": on_suppression_changed,
    "contact.consent.changed": on_consent_changed,
    "contact.upserted": on_upserted,
    "contact.erased": on_erased,
    "contact.merged": on_merged,
}


def handle_contact_facts(uow: ChannelsUnitOfWork, messages: Sequence[Message]) -> None:
    """Batch handler of `channels.contacts`: lock the batch's contacts in id order, then apply in order."""
    uow.contacts.lock([m.payload["contact_id"] for m in messages]
                      + [m.payload["duplicate_id"] for m in messages if "duplicate_id" in m.payload])
    for message in messages:
        HANDLERS[message.type](uow, message.payload)


def suppress_locally(uow: ChannelsUnitOfWork, contact_id: str, channel: str, reason: str, source: str,
                     data: dict[str, Any] | None = None) -> str:
    """A channel-level suppression learned here (bounce, complaint, STOP): apply now, tell contacts."""
    now = uow.clock.now()
    uow.contacts.lock([contact_id])
    suppression_id = f"{source}:{channel}:{reason}"
    uow.contacts.upsert_suppression(contact_id, suppression_id, "channel", channel, reason, True, now)
    uow.publish("interaction.recorded", interaction_payload(contact_id, "suppression_requested", now, {
        "scope": "channel", "value": channel, "reason": reason, "source": source, **(data or {})}), key=contact_id)
    return suppression_id
