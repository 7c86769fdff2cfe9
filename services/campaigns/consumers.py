"""Which queue feeds which handler in the campaigns service (wiring only).

- `campaigns.contacts`: every contact fact in one queue, so one contact's upsert, consent change
  and events are handled in the order contacts published them; a batch at a time, each run of
  events in it set-based (`handle_contact_events`), so a backlog is worked off in few statements.
- `campaigns.steps`: due waits.
- `campaigns.outcomes`: the gate's decisions and delivery outcomes, a batch at a time (the report
  reads what they record). Bound per outcome rather than `message.#`, so our own
  `message.requested` never comes back to us.
- `campaigns.broadcasts`: broadcast starts and pages, one at a time (each is a page of inserts).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from services.campaigns.handlers import broadcasts, events, projections
from services.campaigns.handlers.context import CampaignCatalog
from services.campaigns.segments import SegmentSource, SegmentUnavailable, source_from_settings
from services.campaigns.unit_of_work import CampaignsUnitOfWork
from shared.config import Settings
from shared.contracts import OUTCOMES
from shared.messaging import Message, QueueSpec, Subscription, UnitOfWork

CONTACT_HANDLERS = {
    "contact.upserted": projections.handle_contact_upserted,
    "contact.erased": projections.handle_contact_erased,
    "contact.merged": projections.handle_contact_merged,
    "contact.consent.changed": projections.handle_consent_changed,
    "contact.suppression.changed": projections.handle_suppression_changed,
}


class _NoSegmentSource:
    """Stands in when CAMPAIGNS_CONTACTS_URL is unset: broadcasts fail loudly into the dead letters."""

    def page(self, segment_id: str, after: str | None, limit: int = 1000):
        """Always refuses."""
        raise SegmentUnavailable("CAMPAIGNS_CONTACTS_URL is not configured")


def engine_for(settings: Settings) -> events.Engine:
    """The shared enrollment machinery: known channels and the campaign cache."""
    return events.Engine(CampaignCatalog(settings.channels))


def subscriptions(settings: Settings, engine: Engine, source: SegmentSource | None = None,
                  machinery: events.Engine | None = None) -> Sequence[Subscription]:
    """The campaigns service's consumers; `source` replaces the HTTP segment reader (tests, bench)."""
    machinery = machinery or engine_for(settings)
    source = source or source_from_settings(settings.extra) or _NoSegmentSource()

    # The runner hands each handler its unit of work; the use cases take it with their repositories.
    def on_contacts(uow: UnitOfWork, messages: Sequence[Message]) -> None:
        # In delivery order; each run of contact events is handled as one batch (a statement per kind
        # of read or write, not a dozen per event), the facts between them one at a time.
        campaigns_uow = CampaignsUnitOfWork(uow)
        run: list[Message] = []
        for message in messages:
            if message.type.startswith("contact.event."):
                run.append(message)
                continue
            if run:
                events.handle_contact_events(campaigns_uow, run, machinery)
                run = []
            CONTACT_HANDLERS[message.type](campaigns_uow, message)
        if run:
            events.handle_contact_events(campaigns_uow, run, machinery)

    def on_step_due(uow: UnitOfWork, message: Message) -> None:
        events.handle_step_due(CampaignsUnitOfWork(uow), message, machinery)

    def on_outcomes(uow: UnitOfWork, messages: Sequence[Message]) -> None:
        events.handle_message_outcomes(CampaignsUnitOfWork(uow), messages)

    def on_broadcast(uow: UnitOfWork, message: Message) -> None:
        if message.type == "broadcast.due":
            broadcasts.handle_broadcast_due(CampaignsUnitOfWork(uow), message, machinery, source)
        else:
            broadcasts.handle_broadcast_page(CampaignsUnitOfWork(uow), message, machinery, source)

    return [
        Subscription(QueueSpec("campaigns.contacts", (*CONTACT_HANDLERS, "contact.event.#")), batch_handler=on_contacts),
        Subscription(QueueSpec("campaigns.steps", ("step.due",)), handler=on_step_due),
        # Outcomes feed the report: on a consumer thread of their own they are not held up behind a
        # broadcast page (1,000 enrollments) or a burst of contact events on the main thread (the
        # report fell 20 s behind the sinks in a 20,000-contact broadcast). Batches of up to 1,000
        # cost the set-based handler little more than small ones.
        Subscription(QueueSpec("campaigns.outcomes", tuple(f"message.{o}" for o in OUTCOMES)),
                     batch_handler=on_outcomes, batch_size=1000, prefetch=2000, thread="outcomes"),
        Subscription(QueueSpec("campaigns.broadcasts", ("broadcast.due", "campaign.broadcast.page")),
                     handler=on_broadcast, batch_size=1, prefetch=2),
    ]
