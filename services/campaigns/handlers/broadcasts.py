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

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.campaigns.domain.definition import Campaign, SegmentEntry
from services.campaigns.domain.engine import may_reenter
from services.campaigns.domain.enrollment import Enrollment
from services.campaigns.handlers.context import ContactContext, contact_view
from services.campaigns.handlers.enrollment import TemplateLookup, Writes, apply, plan
from services.campaigns.handlers.events import Engine
from services.campaigns.repository import broadcast_runs, campaigns, contacts, enrollments
from services.campaigns.segments import PAGE_SIZE, SegmentSource
from shared.messaging import Message, UnitOfWork

log = logging.getLogger(__name__)
SCHEDULE_PREFIX = "campaign:"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def schedule_id(campaign_id: str) -> str:
    """The scheduler id of a campaign's broadcast schedule."""
    return SCHEDULE_PREFIX + campaign_id


def occurrence_of(fire_time: datetime) -> str:
    """A broadcast run's occurrence: its fire time, compact and in UTC."""
    return fire_time.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def handle_broadcast_due(uow: UnitOfWork, message: Message, engine: Engine, source: SegmentSource,
                         page_size: int = PAGE_SIZE) -> None:
    """A broadcast schedule fired: start the run and enroll its first page."""
    p = message.payload
    campaign_id = p.get("campaign_id") or p["schedule_id"].removeprefix(SCHEDULE_PREFIX)
    row = uow.conn.execute(select(campaigns.c.status, campaigns.c.version).where(
        campaigns.c.campaign_id == campaign_id)).first()
    if row is None or row.status != "active":
        log.info("broadcast skipped: campaign not active", extra={"campaign_id": campaign_id})
        return
    campaign = engine.catalog.get(engine.store(uow), campaign_id, row.version)
    if campaign is None or not isinstance(campaign.entry, SegmentEntry):
        return
    occurrence = occurrence_of(p["fire_time"])
    started = uow.conn.execute(pg_insert(broadcast_runs).values(
        campaign_id=campaign_id, occurrence=occurrence, version=row.version,
        segment_id=campaign.entry.segment_id).on_conflict_do_nothing().returning(broadcast_runs.c.occurrence)).first()
    if started is None:
        return  # this fire time already ran (the scheduler told us twice)
    enroll_page(uow, engine, source, campaign_id, row.version, campaign, occurrence, None, page_size)


def handle_broadcast_page(uow: UnitOfWork, message: Message, engine: Engine, source: SegmentSource,
                          page_size: int = PAGE_SIZE) -> None:
    """Enroll the next page of a running broadcast."""
    p = message.payload
    status = uow.conn.execute(select(campaigns.c.status).where(campaigns.c.campaign_id == p["campaign_id"])).scalar()
    campaign = engine.catalog.get(engine.store(uow), p["campaign_id"], p["version"])
    if status != "active" or campaign is None:
        _finish(uow, p["campaign_id"], p["occurrence"], 0, done=True)  # paused or archived mid-run: stop here
        return
    enroll_page(uow, engine, source, p["campaign_id"], p["version"], campaign, p["occurrence"], p["after"],
                page_size)


def enroll_page(uow: UnitOfWork, engine: Engine, source: SegmentSource, campaign_id: str, version: int,
                campaign: Campaign, occurrence: str, after: str | None, page_size: int = PAGE_SIZE) -> int:
    """Read one page of the segment, enroll who may enter, run them to their first wait; return how many."""
    assert isinstance(campaign.entry, SegmentEntry)
    conn = uow.conn
    # One page of a run at a time: with the run locked, "already enrolled in this run" is exact,
    # so the page is written with plain bulk inserts instead of insert-and-see.
    conn.execute(select(broadcast_runs.c.pages).where(broadcast_runs.c.campaign_id == campaign_id,
                                                      broadcast_runs.c.occurrence == occurrence).with_for_update())
    page = source.page(campaign.entry.segment_id, after, page_size)
    now = engine.clock.now()
    members = {m["contact_id"]: m for m in page.items}
    enrolled = 0
    if members:
        if campaign.parks:
            _project(uow, page.items)
        writes = Writes()
        store = engine.store(uow)
        lookup = TemplateLookup(store)
        rows = []
        for contact_id in _admitted(uow, campaign_id, campaign, occurrence, list(members), now):
            contact = contact_view(members[contact_id], contact_id)
            enrollment = Enrollment(campaign_id=campaign_id, version=version, contact_id=contact_id,
                                    enrollment_id=str(uuid.uuid4()), occurrence=occurrence)
            # A new enrollment is inserted as plan() leaves it: one insert, no update to undo.
            settled = plan(campaign, enrollment, contact, ContactContext(store, contact, None, now), now, lookup,
                           writes) or enrollment
            rows.append({"enrollment_id": settled.enrollment_id, "campaign_id": campaign_id, "version": version,
                         "contact_id": contact_id, "occurrence": occurrence, "status": settled.status,
                         "current_step": settled.current_step, "waiting_until": settled.waiting_until,
                         "variant": settled.variant, "reason": settled.reason, "ended_at": settled.ended_at,
                         "enrolled_at": now})
        if rows:
            conn.execute(insert(enrollments), rows)
        apply(uow, store, writes, fresh=True)
        enrolled = len(rows)
    if page.next_after is not None:
        uow.publish("campaign.broadcast.page", {"campaign_id": campaign_id, "version": version,
                                                "occurrence": occurrence, "after": page.next_after,
                                                "segment_id": campaign.entry.segment_id}, key=campaign_id)
    _finish(uow, campaign_id, occurrence, enrolled, done=page.next_after is None)
    return enrolled


def _project(uow: UnitOfWork, items: list) -> None:
    # Members the contacts service listed but whose upsert we have not seen yet: keep a copy so
    # steps after a wait can render; an existing, event-fed copy is left as it is (and the
    # epoch timestamp lets the next contact.upserted replace this one).
    rows = [{**{k: m.get(k) for k in ("contact_id", "external_id", "email", "phone", "first_name", "last_name",
                                      "locale", "time_zone")}, "attributes": m.get("attributes") or {},
             "updated_at": EPOCH} for m in items]
    uow.conn.execute(pg_insert(contacts).on_conflict_do_nothing(), rows)


def _admitted(uow: UnitOfWork, campaign_id: str, campaign: Campaign, occurrence: str, contact_ids: list[str],
              now: datetime) -> list[str]:
    earlier: dict[str, list] = defaultdict(list)
    this_run: set[str] = set()
    for contact_id, ended_at, seen_occurrence in uow.conn.execute(
            select(enrollments.c.contact_id, enrollments.c.ended_at, enrollments.c.occurrence).where(
            enrollments.c.campaign_id == campaign_id, enrollments.c.contact_id.in_(contact_ids))):
        earlier[contact_id].append(ended_at)
        if seen_occurrence == occurrence:
            this_run.add(contact_id)  # a redelivered page: these are enrolled already
    return [cid for cid in contact_ids
            if cid not in this_run and may_reenter(campaign.reentry, earlier.get(cid, []), now)]


def _finish(uow: UnitOfWork, campaign_id: str, occurrence: str, enrolled: int, done: bool) -> None:
    values: dict = {"pages": broadcast_runs.c.pages + 1, "enrolled": broadcast_runs.c.enrolled + enrolled}
    if done:
        values["finished_at"] = datetime.now(UTC)
    uow.conn.execute(update(broadcast_runs).where(broadcast_runs.c.campaign_id == campaign_id,
                                                  broadcast_runs.c.occurrence == occurrence).values(**values))
