"""Local copies of the contact facts that conditions and templates read, kept from contacts' events.

Each copy carries the time of the fact it reflects and only moves forward, so events that
arrive late or twice never roll a contact back (`repository.projections.ContactProjection`).
"""

from __future__ import annotations

from services.campaigns.handlers.enrollment import wake_entry_id
from services.campaigns.unit_of_work import CampaignsUnitOfWork
from shared.messaging import Message


def handle_contact_upserted(uow: CampaignsUnitOfWork, message: Message) -> None:
    """Keep the newest version of the contact's shareable fields."""
    p = message.payload
    uow.contacts.upsert({k: p[k] for k in ("contact_id", "external_id", "email", "phone", "first_name", "last_name",
                                           "locale", "time_zone", "attributes", "updated_at")})


def handle_contact_erased(uow: CampaignsUnitOfWork, message: Message) -> None:
    """Forget the contact's personal data and end its running enrollments."""
    cid = message.payload["contact_id"]
    uow.contacts.forget(cid)
    for enrollment_id, current_step, occurrence in uow.enrollments.parked_of_contact(cid):
        uow.publish("schedule.cancelled", {"entry_id": wake_entry_id(enrollment_id, current_step, occurrence)},
                    key=cid)
    uow.enrollments.exit_contact(cid, "contact erased", message.payload["erased_at"])
    # The trigger event may hold personal data too (an address, an amount).
    uow.enrollments.forget_trigger_events(cid)


def handle_contact_merged(uow: CampaignsUnitOfWork, message: Message) -> None:
    """Two profiles became one: the duplicate's enrollments move to the survivor (one per campaign).

    Where both were enrolled in the same campaign the survivor's enrollment is kept (it is the profile
    the marketer chose to keep) and the duplicate's exits, its pending wake-up cancelled; channels has
    moved the duplicate's touches to the survivor, so a step the duplicate was sent is not sent again.
    """
    p = message.payload
    survivor, duplicate = p["contact_id"], p["duplicate_id"]
    for enrollment_id, current_step, occurrence in uow.enrollments.parked_overlapping(duplicate, survivor):
        uow.publish("schedule.cancelled", {"entry_id": wake_entry_id(enrollment_id, current_step, occurrence)},
                    key=duplicate)
    uow.enrollments.merge_contact(duplicate, survivor, p["merged_at"])


def handle_consent_changed(uow: CampaignsUnitOfWork, message: Message) -> None:
    """Keep the newest consent status per channel."""
    p = message.payload
    uow.contacts.upsert_consent(p["contact_id"], p["channel"], p["status"], p["changed_at"])


def handle_suppression_changed(uow: CampaignsUnitOfWork, message: Message) -> None:
    """Keep the newest state of each suppression."""
    p = message.payload
    uow.contacts.upsert_suppression({k: p[k] for k in ("suppression_id", "contact_id", "scope", "value", "reason",
                                                       "expires_at", "active", "changed_at")})
