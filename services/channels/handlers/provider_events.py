"""What provider webhooks report: email bounces and complaints, SMS receipts, inbound STOP."""

from __future__ import annotations

from typing import Any

from services.channels.handlers.contact_facts import suppress_locally
from services.channels.messages import outcome_payload
from services.channels.unit_of_work import ChannelsUnitOfWork

STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "end", "quit", "cancel", "stop all"})


def _announce(uow: ChannelsUnitOfWork, job: Any, outcome: str, reason: str, detail: str | None) -> None:
    payload = outcome_payload(job.request or {"request_id": job.request_id, "contact_id": job.contact_id,
                                              "channel": job.channel}, outcome, uow.clock.now(), reason,
                              detail=detail)
    uow.publish(f"message.{outcome}", payload, key=job.contact_id)


def email_event(uow: ChannelsUnitOfWork, body: dict[str, Any]) -> tuple[list[str], str | None]:
    """A bounce or complaint: suppress email for the contact(s) here at once and ask contacts to record it.

    A soft bounce (temporary: mailbox full, greylisting) suppresses nobody: it is noted on the
    delivery job and the next message goes out as usual. Returns the contact ids the event names
    (empty: nobody matches) and the suppression reason, None for a soft bounce."""
    job = uow.jobs.by_request_id(body["request_id"]) if body.get("request_id") else None
    if job is not None:
        contact_ids = [job.contact_id]
    elif body.get("contact_id"):
        contact_ids = [body["contact_id"]]
    else:
        contact_ids = uow.contacts.with_address("email", body.get("email"))
    if body["type"] == "bounce" and body["bounce_type"] == "soft":
        if job is not None:
            uow.jobs.note(job.id, "soft bounce" + (f" ({body['detail']})" if body.get("detail") else ""))
        return sorted(contact_ids), None
    reason = "bounced" if body["type"] == "bounce" else "complained"
    for contact_id in sorted(contact_ids):
        suppress_locally(uow, contact_id, "email", reason, "email_webhook", {"request_id": body.get("request_id")})
    if job is not None:
        _announce(uow, job, reason, f"provider:{body['type']}", body.get("detail"))
    return sorted(contact_ids), reason


def sms_receipt(uow: ChannelsUnitOfWork, body: dict[str, Any]) -> str | None:
    """A gateway delivery receipt: `delivered`, or `failed`/`undelivered` which releases the touch.

    Returns the request id, or None when no SMS has that gateway id."""
    job = uow.jobs.by_provider_id("sms", body["id"])
    if job is None:
        return None
    uow.jobs.note(job.id, f"receipt: {body['status']}" + (f" ({body['detail']})" if body.get("detail") else ""))
    if body["status"] == "delivered":
        _announce(uow, job, "delivered", "receipt:delivered", body.get("detail"))
    else:
        uow.ledger.release(touch_id=job.touch_id)
        _announce(uow, job, "failed", f"receipt:{body['status']}", body.get("detail"))
    return job.request_id


def is_stop(text: str) -> bool:
    """True when an inbound SMS asks to stop (STOP and its synonyms, any case and spacing)."""
    return " ".join(text.lower().split()) in STOP_WORDS


def sms_stop(uow: ChannelsUnitOfWork, sender: str) -> list[str]:
    """STOP from `sender`: suppress SMS for every contact with that number; returns their ids."""
    contact_ids = uow.contacts.with_address("phone", sender)
    for contact_id in contact_ids:
        suppress_locally(uow, contact_id, "sms", "stop", "sms_inbound")
    return contact_ids
