"""Marshmallow schemas of the scheduler's HTTP bodies and query strings (unknown fields are refused)."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from services.scheduler.domain.entries import STATES

OWNER = validate.Length(min=1, max=128)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class PageQuery(_Strict):
    """Paging of a list."""

    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    cursor = fields.String(load_default=None, validate=validate.Length(min=1, max=512))


class EntriesQuery(PageQuery):
    """Filters of GET /entries."""

    state = fields.String(load_default="pending", validate=validate.OneOf(STATES))
    due_before = fields.AwareDateTime(load_default=None)
    owner = fields.String(load_default=None, validate=OWNER)


class SchedulesQuery(PageQuery):
    """Filters of GET /schedules."""

    owner = fields.String(load_default=None, validate=OWNER)


class PauseBody(_Strict):
    """Optional body of pause/resume: why, for the log."""

    reason = fields.String(load_default=None, validate=validate.Length(max=500))


class EntrySchema(Schema):
    """A due entry as listed."""

    entry_id = fields.String()
    due_at = fields.DateTime()
    message_type = fields.String()
    key = fields.String(allow_none=True)
    owner = fields.String(allow_none=True)
    payload = fields.Dict()
    state = fields.String()
    paused = fields.Boolean()
    created_at = fields.DateTime()
    settled_at = fields.DateTime(allow_none=True)


class EntryPageSchema(Schema):
    """A page of entries."""

    items = fields.List(fields.Nested(EntrySchema))
    next_cursor = fields.String(allow_none=True)


class ScheduleSchema(Schema):
    """A broadcast schedule as listed."""

    schedule_id = fields.String()
    owner = fields.String(allow_none=True)
    at = fields.DateTime(allow_none=True)
    cron = fields.String(allow_none=True)
    timezone = fields.String()
    message_type = fields.String()
    payload = fields.Dict()
    next_fire_at = fields.DateTime(allow_none=True)
    last_fired_at = fields.DateTime(allow_none=True)
    paused = fields.Boolean()


class SchedulePageSchema(Schema):
    """A page of schedules."""

    items = fields.List(fields.Nested(ScheduleSchema))
    next_cursor = fields.String(allow_none=True)


class PauseResultSchema(Schema):
    """What a pause or resume changed."""

    owner = fields.String()
    paused = fields.Boolean()
    entries_changed = fields.Integer()
    schedules_changed = fields.Integer()


class TriggeredSchema(Schema):
    """A broadcast fired by hand."""

    schedule_id = fields.String()
    fire_time = fields.DateTime()
    message_id = fields.String()


class LeaderSchema(Schema):
    """The replica holding the scheduler lock."""

    identity = fields.String()
    pid = fields.Integer()
    client_addr = fields.String(allow_none=True)
    since = fields.DateTime()


class StatsSchema(Schema):
    """Backlog and leadership at a glance."""

    now = fields.DateTime()
    pending = fields.Integer()
    overdue = fields.Integer()
    oldest_overdue_age_seconds = fields.Float(allow_none=True)
    paused = fields.Integer()
    schedules = fields.Integer()
    leader = fields.Nested(LeaderSchema, allow_none=True)
