"""Segment broadcasts: stream the segment page by page and enroll each page in bulk.

`broadcast.due` starts a run (one per campaign and fire time) and enrolls the first page; every
page then announces the next one as a `campaign.broadcast.page` message to this service. Each
page is one short transaction (a bulk insert of enrollments, a bulk insert of sends, one outbox
statement), so a million-contact broadcast never holds more than a page in memory, never keeps
a consumer busy past its heartbeat, and resumes where it was after a crash: a redelivered page
enrolls nobody twice (unique campaign + contact + occurrence).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import UTC, datetime

from services.campaigns.domain.definition import Campaign, SegmentEntry
from services.campaigns.domain.engine import may_reenter
from services.campaigns.domain.enrollment import Enrollment
from services.campaigns.handlers.context import ContactContext, contact_view
from services.campaigns.handlers.enrollment import TemplateLookup, Writes, apply, plan
from services.campaigns.handlers.events import Engine
from services.campaigns.segments import PAGE_SIZE, SegmentSource
from services.campaigns.unit_of_work import CampaignsUnitOfWork
from shared.messaging import Message

log = logging.getLogger(__name__)
SCHEDULE_PREFIX = "campaign:"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def schedule_id(campaign_id: str) -> str:
    """The scheduler id of a campaign's broadcast schedule."""
    return SCHEDULE_PREFIX + campaign_id


def occurrence_of(fire_time: datetime) -> str:
    """A broadcast run's occurrence: its fire time, compact and in UTC."""
    return fire_time.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def handle_broadcast_due(uow: CampaignsUnitOfWork, message: Message, engine: Engine, source: SegmentSource,
                         page_size: int = PAGE_SIZE) -> None:
    """A broadcast schedule fired: start the run and enroll its first page."""
    p = message.payload
    campaign_id = p.get("campaign_id") or p["schedule_id"].removeprefix(SCHEDULE_PREFIX)
    found = uow.campaigns.status_and_version(campaign_id)
    if found is None or found[0] != "active":
        log.info("broadcast skipped: campaign not active", extra={"campaign_id": campaign_id})
        return
    version = found[1]
    campaign = engine.catalog.get(uow.campaigns, campaign_id, version)
    if campaign is None or not isinstance(campaign.entry, SegmentEntry):
        return
    occurrence = occurrence_of(p["fire_time"])
    if not uow.broadcasts.start(campaign_id, occurrence, version, campaign.entry.segment_id):
        return  # this fire time already ran (the scheduler told us twice)
    enroll_page(uow, engine, source, campaign_id, version, campaign, occurrence, None, page_size)


def handle_broadcast_page(uow: CampaignsUnitOfWork, message: Message, engine: Engine, source: SegmentSource,
                          page_size: int = PAGE_SIZE) -> None:
    """Enroll the next page of a running broadcast."""
    p = message.payload
    status = uow.campaigns.status(p["campaign_id"])
    campaign = engine.catalog.get(uow.campaigns, p["campaign_id"], p["version"])
    if status != "active" or campaign is None:
        _finish(uow, p["campaign_id"], p["occurrence"], 0, True, engine.clock.now())  # paused or archived mid-run: stop here
        return
    enroll_page(uow, engine, source, p["campaign_id"], p["version"], campaign, p["occurrence"], p["after"],
                page_size)


def enroll_page(uow: CampaignsUnitOfWork, engine: Engine, source: SegmentSource, campaign_id: str, version: int,
                campaign: Campaign, occurrence: str, after: str | None, page_size: int = PAGE_SIZE) -> int:
    """Read one page of the segment, enroll who may enter, run them to their first wait; return how many."""
    assert isinstance(campaign.entry, SegmentEntry)
    # One page of a run at a time: with the run locked, "already enrolled in this run" is exact,
    # so the page is written with plain bulk inserts instead of insert-and-see.
    uow.broadcasts.lock(campaign_id, occurrence)
    page = source.page(campaign.entry.segment_id, after, page_size)
    now = engine.clock.now()
    members = {m["contact_id"]: m for m in page.items}
    enrolled = 0
    if members:
        if campaign.parks:
            _project(uow, page.items)
        writes = Writes()
        lookup = TemplateLookup(uow.templates)
        rows = []
        for contact_id in _admitted(uow, campaign_id, campaign, occurrence, list(members), now):
            contact = contact_view(members[contact_id], contact_id)
            enrollment = Enrollment(campaign_id=campaign_id, version=version, contact_id=contact_id,
                                    enrollment_id=str(uuid.uuid4()), occurrence=occurrence)
            # A new enrollment is inserted as plan() leaves it: one insert, no update to undo.
            settled = plan(campaign, enrollment, contact, ContactContext(uow.contacts, contact, None, now), now,
                           lookup, writes) or enrollment
            rows.append({"enrollment_id": settled.enrollment_id, "campaign_id": campaign_id, "version": version,
                         "contact_id": contact_id, "occurrence": occurrence, "status": settled.status,
                         "current_step": settled.current_step, "waiting_until": settled.waiting_until,
                         "variant": settled.variant, "reason": settled.reason, "ended_at": settled.ended_at,
                         "enrolled_at": now})
        uow.enrollments.add_many(rows)
        apply(uow, writes, fresh=True)
        enrolled = len(rows)
    if page.next_after is not None:
        uow.publish("campaign.broadcast.page", {"campaign_id": campaign_id, "version": version,
                                                "occurrence": occurrence, "after": page.next_after,
                                                "segment_id": campaign.entry.segment_id}, key=campaign_id)
    _finish(uow, campaign_id, occurrence, enrolled, page.next_after is None, now)
    return enrolled


def _project(uow: CampaignsUnitOfWork, items: list) -> None:
    # Members the contacts service listed but whose upsert we have not seen yet: keep a copy so
    # steps after a wait can render; an existing, event-fed copy is left as it is (and the
    # epoch timestamp lets the next contact.upserted replace this one).
    rows = [{**{k: m.get(k) for k in ("contact_id", "external_id", "email", "phone", "first_name", "last_name",
                                      "locale", "time_zone")}, "attributes": m.get("attributes") or {},
             "updated_at": EPOCH} for m in items]
    uow.contacts.keep_members(rows)


def _admitted(uow: CampaignsUnitOfWork, campaign_id: str, campaign: Campaign, occurrence: str,
              contact_ids: list[str], now: datetime) -> list[str]:
    earlier: dict[str, list] = defaultdict(list)
    this_run: set[str] = set()
    for contact_id, ended_at, seen_occurrence in uow.enrollments.history(campaign_id, contact_ids):
        earlier[contact_id].append(ended_at)
        if seen_occurrence == occurrence:
            this_run.add(contact_id)  # a redelivered page: these are enrolled already
    return [cid for cid in contact_ids
            if cid not in this_run and may_reenter(campaign.reentry, earlier.get(cid, []), now)]


def _finish(uow: CampaignsUnitOfWork, campaign_id: str, occurrence: str, enrolled: int, done: bool,
            now: datetime) -> None:
    uow.broadcasts.count_page(campaign_id, occurrence, enrolled, now if done else None)
