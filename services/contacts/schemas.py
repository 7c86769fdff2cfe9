"""Marshmallow schemas of the contacts service's HTTP bodies (unknown fields are rejected)."""

from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from shared.contracts import CONSENT_STATUSES, SUPPRESSION_REASONS, SUPPRESSION_SCOPES

NAME = r"^[a-z][a-z0-9_]*$"
MAX_PAGE = 500


class Strict(Schema):
    """Rejects unknown fields."""

    class Meta:
        unknown = RAISE


def _text(max_length: int, **kwargs: object) -> fields.String:
    return fields.String(allow_none=True, validate=validate.Length(max=max_length), **kwargs)


class ContactWriteSchema(Strict):
    """Fields of a contact to create or change; the service normalises email, phone, locale and time zone."""

    external_id = _text(128)
    email = _text(320)
    phone = _text(64)
    first_name = _text(200)
    last_name = _text(200)
    locale = _text(35)
    time_zone = _text(64)
    attributes = fields.Dict(keys=fields.String())
    phone_region = fields.String(load_only=True, validate=validate.Length(equal=2),
                                 metadata={"description": "region (e.g. GB) for phone numbers without +country"})


class _ContactFields(Schema):
    """The profile fields a contact and a segment member share (one list, so the two can't drift)."""

    external_id = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    locale = fields.String(allow_none=True)
    time_zone = fields.String(allow_none=True)
    attributes = fields.Dict()


class ContactSchema(_ContactFields):
    """A contact."""

    id = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    erased_at = fields.DateTime(allow_none=True)
    merged_into = fields.String(allow_none=True, metadata={
        "description": "set on a merged profile (a tombstone): the contact it now lives on"})


class MergeSchema(Strict):
    """Which profile to fold into the addressed one."""

    duplicate_id = fields.String(required=True, validate=validate.Length(min=1, max=36))


class MergeResultSchema(Schema):
    """The survivor after the merge; `merged` is false when the duplicate had been merged into it already."""

    contact = fields.Nested(ContactSchema)
    duplicate_id = fields.String()
    merged = fields.Boolean()


class PageQuerySchema(Strict):
    """Cursor paging."""

    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_PAGE))
    cursor = fields.String(validate=validate.Length(max=500))


class ContactListQuerySchema(PageQuerySchema):
    """Paging and filters of the contact list."""

    external_id = fields.String(validate=validate.Length(max=128))
    email = fields.String(validate=validate.Length(max=320))
    where = fields.String(validate=validate.Length(min=1, max=4000),
                          metadata={"description": "a filter-language expression (docs/filter-language.md)"})


class ContactPageSchema(Schema):
    """A page of contacts."""

    items = fields.List(fields.Nested(ContactSchema))
    next_cursor = fields.String(allow_none=True)


class ConsentWriteSchema(Strict):
    """Consent on one channel."""

    status = fields.String(required=True, validate=validate.OneOf(CONSENT_STATUSES))
    source = _text(200)


class ConsentSchema(Schema):
    """Consent on one channel, as recorded."""

    channel = fields.String()
    status = fields.String()
    source = fields.String(allow_none=True)
    changed_at = fields.DateTime()


class ConsentViewSchema(Schema):
    """Current consent per channel and its history."""

    current = fields.List(fields.Nested(ConsentSchema))
    history = fields.List(fields.Nested(ConsentSchema))


class SuppressionWriteSchema(Strict):
    """A suppression to add: global, or for one channel or topic."""

    scope = fields.String(required=True, validate=validate.OneOf(SUPPRESSION_SCOPES))
    value = fields.String(allow_none=True, load_default=None, validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,63}$"))
    reason = fields.String(required=True, validate=validate.OneOf(SUPPRESSION_REASONS))
    expires_at = fields.AwareDateTime(allow_none=True, load_default=None)
    source = _text(200)


class SuppressionSchema(Schema):
    """A suppression; lifted ones carry lifted_at."""

    id = fields.String()
    scope = fields.String()
    value = fields.String(allow_none=True)
    reason = fields.String()
    expires_at = fields.DateTime(allow_none=True)
    source = fields.String(allow_none=True)
    created_at = fields.DateTime()
    lifted_at = fields.DateTime(allow_none=True)


class SuppressionQuerySchema(Strict):
    """Whether lifted and expired suppressions are listed too."""

    include_inactive = fields.Boolean(load_default=False)


class EventSchema(Strict):
    """A behavioural event; `event_id` is the client's own id and makes posting it again harmless."""

    event_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    contact_id = fields.String(validate=validate.Length(min=1, max=36))
    external_id = fields.String(validate=validate.Length(min=1, max=128))
    type = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,63}$"))
    occurred_at = fields.AwareDateTime(required=True)
    data = fields.Dict(keys=fields.String(), load_default=dict)

    @validates_schema
    def _names_a_contact(self, data: dict, **_: object) -> None:
        if not data.get("contact_id") and not data.get("external_id"):
            raise ValidationError("give contact_id or external_id", "contact_id")


class EventResultSchema(Schema):
    """What became of one posted event."""

    index = fields.Integer()
    event_id = fields.String(allow_none=True)
    contact_id = fields.String()
    status = fields.String(metadata={"description": "accepted, duplicate or rejected"})
    reason = fields.Raw()


class EventResultsSchema(Schema):
    """Per-item results of POST /events."""

    accepted = fields.Integer()
    duplicate = fields.Integer()
    rejected = fields.Integer()
    results = fields.List(fields.Nested(EventResultSchema))


class TimelineEntrySchema(Schema):
    """One entry of a contact's timeline."""

    kind = fields.String(metadata={"description": "event, consent, suppression, message or erasure"})
    type = fields.String()
    occurred_at = fields.DateTime()
    ref = fields.String(allow_none=True)
    data = fields.Dict()


class TimelinePageSchema(Schema):
    """A page of the timeline, newest first."""

    items = fields.List(fields.Nested(TimelineEntrySchema))
    next_cursor = fields.String(allow_none=True)


class SegmentWriteSchema(Strict):
    """A segment: a name and a filter-language definition."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = _text(2000)
    definition = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class SegmentUpdateSchema(Strict):
    """Fields of a segment to change."""

    name = fields.String(validate=validate.Length(min=1, max=200))
    description = _text(2000)
    definition = fields.String(validate=validate.Length(min=1, max=4000))


class SegmentSchema(Schema):
    """A segment."""

    id = fields.String()
    name = fields.String()
    description = fields.String(allow_none=True)
    definition = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class SegmentPageSchema(Schema):
    """A page of segments."""

    items = fields.List(fields.Nested(SegmentSchema))
    next_cursor = fields.String(allow_none=True)


class SegmentCountSchema(Schema):
    """How many contacts a segment holds."""

    segment_id = fields.String()
    count = fields.Integer()


class MembersQuerySchema(Strict):
    """Keyset paging of segment members."""

    after = fields.String(validate=validate.Length(min=1, max=36))
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=1000))


class MemberSchema(_ContactFields):
    """A segment member: what a campaign needs to address the contact."""

    contact_id = fields.String()


class MembersPageSchema(Schema):
    """A page of members; pass `next_after` as `after` for the next one (null: the last page)."""

    items = fields.List(fields.Nested(MemberSchema))
    next_after = fields.String(allow_none=True)


class ImportQuerySchema(Strict):
    """How to read an upload."""

    format = fields.String(validate=validate.OneOf(("csv", "jsonl")),
                           metadata={"description": "csv or jsonl; default from the content type"})
    phone_region = fields.String(validate=validate.Length(equal=2))


class ImportJobSchema(Schema):
    """An import job and its progress."""

    id = fields.String()
    status = fields.String(metadata={"description": "queued, running, done or failed"})
    format = fields.String()
    phone_region = fields.String(allow_none=True)
    bytes = fields.Integer()
    bytes_processed = fields.Integer()
    progress = fields.Float()
    rows_processed = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()
    rejected = fields.Integer()
    error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)


class RejectionSchema(Schema):
    """One rejected row."""

    row = fields.Integer()
    reason = fields.String()


class RejectionPageSchema(Schema):
    """A page of rejected rows, in row order."""

    items = fields.List(fields.Nested(RejectionSchema))
    next_cursor = fields.String(allow_none=True)


_LANGUAGE = validate.Regexp(r"^[a-z]{2,3}$", error="a language code such as 'en' or 'de'")


class TopicWriteSchema(Strict):
    """A topic's labels per language; English is required (the fallback of every other language)."""

    labels = fields.Dict(required=True, keys=fields.String(validate=_LANGUAGE),
                         values=fields.String(validate=validate.Length(min=1, max=200)),
                         metadata={"example": {"en": "Mortgages", "de": "Hypotheken"}})

    @validates_schema
    def _english(self, data: dict, **_: object) -> None:
        if not (data.get("labels") or {}).get("en"):
            raise ValidationError("an English label ('en') is required", "labels")


class TopicSchema(Schema):
    """A topic of the preference center's catalogue."""

    key = fields.String(metadata={"description": "what campaigns name as `topic`"})
    labels = fields.Dict(keys=fields.String(), values=fields.String())
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PreferenceFormSchema(Schema):
    """The preference center's form, as its page posts it (fields the page never sends are ignored)."""

    class Meta:
        unknown = EXCLUDE

    action = fields.String(validate=validate.OneOf(("save", "everything")))
    consent_email = fields.String(validate=validate.OneOf(("granted", "denied")))
    consent_sms = fields.String(validate=validate.OneOf(("granted", "denied")))
    consent_call = fields.String(validate=validate.OneOf(("granted", "denied")))
    shown = fields.List(fields.String(validate=validate.Length(min=1, max=64)), validate=validate.Length(max=200))
    topic = fields.List(fields.String(validate=validate.Length(min=1, max=64)), validate=validate.Length(max=200))
