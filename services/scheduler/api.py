"""HTTP layer of the scheduler (operators): parse with a schema, call a handler, dump with a schema."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from services.scheduler import handlers
from services.scheduler.repository import ScheduleStore
from services.scheduler.schemas import (
    EntriesQuery,
    EntryPageSchema,
    PageQuery,
    PauseBody,
    PauseResultSchema,
    SchedulePageSchema,
    SchedulesQuery,
    StatsSchema,
    TriggeredSchema,
)
from shared.errors import Conflict, Invalid, NotFound
from shared.http import roles_required
from shared.http.audit import record_change
from shared.http.context import clock, reading, unit_of_work
from shared.http.cursor import aware_datetime, decode_cursor, encode_cursor
from shared.http.openapi import alt_problem

log = logging.getLogger(__name__)
blp = Blueprint("scheduler", __name__, description="Due entries, broadcast schedules, pause/resume, stats")


def _decode_entry_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    position = decode_cursor(cursor, {"due": aware_datetime, "id": int})
    return (position["due"], position["id"]) if position else None


def _entry_page(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    last = items[-1] if len(items) == limit else None
    return {"items": items,
            "next_cursor": encode_cursor({"due": last["due_at"], "id": last["id"]}) if last is not None else None}


@blp.route("/entries")
class Entries(MethodView):
    """Due entries."""

    @roles_required("operator")
    @blp.arguments(EntriesQuery, location="query", unknown=RAISE)
    @blp.response(200, EntryPageSchema)
    def get(self, query: dict[str, Any]):
        """List entries in due order (default: pending), filtered by due time and owner."""
        with reading() as conn:
            items = handlers.list_entries(ScheduleStore(conn), state=query["state"], due_before=query["due_before"],
                                          owner=query["owner"], after=_decode_entry_cursor(query["cursor"]),
                                          limit=query["limit"])
        return _entry_page(items, query["limit"])


@blp.route("/entries/overdue")
class OverdueEntries(MethodView):
    """Entries whose time has passed but which are not published yet."""

    @roles_required("operator")
    @blp.arguments(PageQuery, location="query", unknown=RAISE)
    @blp.response(200, EntryPageSchema)
    def get(self, query: dict[str, Any]):
        """List overdue, unpaused, pending entries, oldest first."""
        with reading() as conn:
            items = handlers.list_entries(ScheduleStore(conn), state="pending", due_before=clock().now(), owner=None,
                                          after=_decode_entry_cursor(query["cursor"]), limit=query["limit"],
                                          unpaused_only=True)
        return _entry_page(items, query["limit"])


@blp.route("/schedules")
class Schedules(MethodView):
    """Broadcast schedules."""

    @roles_required("operator")
    @blp.arguments(SchedulesQuery, location="query", unknown=RAISE)
    @blp.response(200, SchedulePageSchema)
    def get(self, query: dict[str, Any]):
        """List broadcast schedules with their next fire time."""
        position = decode_cursor(query["cursor"], {"after": str})
        after = position["after"] if position else None
        with reading() as conn:
            items = handlers.list_schedules(ScheduleStore(conn), owner=query["owner"], after=after,
                                            limit=query["limit"])
        last = items[-1] if len(items) == query["limit"] else None
        return {"items": items,
                "next_cursor": encode_cursor({"after": last["schedule_id"]}) if last is not None else None}


@blp.route("/schedules/<string:schedule_id>/trigger")
class TriggerSchedule(MethodView):
    """Fire a broadcast now."""

    @roles_required("operator")
    @blp.response(202, TriggeredSchema)
    @alt_problem(blp, 409, "the schedule's owner is paused")
    def post(self, schedule_id: str):
        """Publish broadcast.due for this schedule immediately (fire_time = now); its timing is unchanged."""
        try:
            with unit_of_work() as uow:
                result = handlers.trigger_schedule(uow, schedule_id, clock().now())
                record_change(uow, "schedule.trigger", "schedule", schedule_id, after=result)
                return result
        except handlers.ScheduleNotFound as exc:
            raise NotFound(f"no schedule {schedule_id}") from exc
        except handlers.SchedulePaused as exc:
            raise Conflict(f"schedule {schedule_id} is paused; resume its owner first", kind="paused") from exc


def _pause(owner: str, body: dict[str, Any], paused: bool) -> dict[str, Any]:
    if not 1 <= len(owner) <= 128:
        raise Invalid("invalid field(s): owner", {"owner": ["1 to 128 characters"]})
    with unit_of_work() as uow:
        result = handlers.pause_owner(uow, owner, paused, clock().now())
        record_change(uow, "owner.pause" if paused else "owner.resume", "owner", owner,
                      after={**result, "reason": body.get("reason")})
    log.info("owner paused" if paused else "owner resumed", extra={**result, "reason": body.get("reason")})
    return result


@blp.route("/owners/<string:owner>/pause")
class PauseOwner(MethodView):
    """Pause a campaign's entries and schedules."""

    @roles_required("operator")
    @blp.arguments(PauseBody)
    @blp.response(200, PauseResultSchema)
    def post(self, body: dict[str, Any], owner: str):
        """Keep the owner's entries and schedules but fire none of them until resumed."""
        return _pause(owner, body, True)


@blp.route("/owners/<string:owner>/resume")
class ResumeOwner(MethodView):
    """Resume a paused campaign."""

    @roles_required("operator")
    @blp.arguments(PauseBody)
    @blp.response(200, PauseResultSchema)
    def post(self, body: dict[str, Any], owner: str):
        """Fire the owner's entries again; overdue ones are caught up in due order."""
        return _pause(owner, body, False)


@blp.route("/stats")
class Stats(MethodView):
    """Backlog and leadership."""

    @roles_required("operator")
    @blp.response(200, StatsSchema)
    def get(self):
        """Pending and overdue counts, the oldest overdue age, and which replica leads."""
        with reading() as conn:
            return handlers.backlog(ScheduleStore(conn), clock().now())


def blueprints() -> list[Blueprint]:
    """The service's blueprints."""
    return [blp]
