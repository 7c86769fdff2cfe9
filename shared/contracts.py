"""Every message type Touchpoint sends, with its payload schema, in one place.

Each message travels in the envelope of `shared.messaging.envelope` with `type` and `version`;
consumers validate the payload against the schema registered here before a handler sees it.
Changing a payload incompatibly means a new version registered beside the old one. Importing this
module registers nothing: `register_contracts()` does, once, when a service process starts.

| type                           | from      | meaning |
|--------------------------------|-----------|---------|
| contact.upserted               | contacts  | a contact was created or changed (the fields others may keep a copy of) |
| contact.erased                 | contacts  | GDPR erasure: every service removes its copy of this contact's PII |
| contact.merged                 | contacts  | `duplicate_id` was folded into `contact_id` (one person): count and address them as one |
| contact.consent.changed        | contacts  | consent on one channel changed |
| contact.suppression.changed    | contacts  | a suppression was added, changed or lifted |
| contact.event.<type>           | contacts  | a behavioural event (withdrawal, address_changed, ...) on the timeline |
| interaction.recorded           | channels  | a contact did something through a channel (call outcome, offer accepted, STOP) |
| message.requested              | campaigns, scheduler | ask the dispatch gate to send one message |
| message.<outcome>              | channels  | the gate's decision or a delivery outcome (sent, deferred, suppressed, ...) |
| schedule.requested             | campaigns | publish `message_type` with `payload` at `due_at` |
| schedule.cancelled             | campaigns | forget pending entries of an entry id or an owner |
| schedule.recurring.upserted    | campaigns | a broadcast schedule (one time or cron in a time zone) |
| schedule.recurring.removed     | campaigns | a broadcast schedule is gone |
| step.due                       | scheduler | a drip step's wait is over |
| broadcast.due                  | scheduler | a broadcast schedule fired |
| campaign.broadcast.page        | campaigns | campaigns to itself: enroll the next page of a broadcast's segment |
| send.planned                   | campaigns | a drip send step waits for its wake-up: the gate holds cap slots for it (look-ahead) |
| send.plan_cancelled            | campaigns | a planned send will not come (enrollment ended, campaign stopped) |
"""

from __future__ import annotations

from marshmallow import INCLUDE, RAISE, Schema, fields, validate

from shared.messaging.registry import register

CHANNEL = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,31}$"))
CATEGORIES = ("transactional", "service", "marketing")
OUTCOMES = ("sent", "deferred", "suppressed", "capped", "expired", "duplicate", "failed",
            "delivered", "bounced", "complained", "opened", "clicked", "answered", "accepted", "dismissed")
SUPPRESSION_SCOPES = ("global", "channel", "topic")
SUPPRESSION_REASONS = ("unsubscribed", "bounced", "complained", "do_not_call", "stop", "legal", "erased",
                       "product_held")
CONSENT_STATUSES = ("granted", "denied", "unknown")


class _Strict(Schema):
    class Meta:
        unknown = RAISE


def _id(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=128), **kwargs)


class ContactUpserted(_Strict):
    """The shareable view of a contact."""

    contact_id = _id(required=True)
    external_id = fields.String(allow_none=True, load_default=None)
    email = fields.String(allow_none=True, load_default=None)
    phone = fields.String(allow_none=True, load_default=None)
    first_name = fields.String(allow_none=True, load_default=None)
    last_name = fields.String(allow_none=True, load_default=None)
    locale = fields.String(allow_none=True, load_default=None)
    time_zone = fields.String(allow_none=True, load_default=None)
    attributes = fields.Dict(load_default=dict)
    updated_at = fields.AwareDateTime(required=True)


class ContactErased(_Strict):
    """Erase every copy of the contact's personal data."""

    contact_id = _id(required=True)
    erased_at = fields.AwareDateTime(required=True)


class ContactMerged(_Strict):
    """Two profiles of one person became one: `duplicate_id` is a tombstone of `contact_id` from now on."""

    contact_id = _id(required=True)
    duplicate_id = _id(required=True)
    merged_at = fields.AwareDateTime(required=True)


class ConsentChanged(_Strict):
    """Consent on one channel."""

    contact_id = _id(required=True)
    channel = CHANNEL
    status = fields.String(required=True, validate=validate.OneOf(CONSENT_STATUSES))
    source = fields.String(allow_none=True, load_default=None)
    changed_at = fields.AwareDateTime(required=True)


class SuppressionChanged(_Strict):
    """A suppression's current state; `active: false` lifts it."""

    contact_id = _id(required=True)
    suppression_id = _id(required=True)
    scope = fields.String(required=True, validate=validate.OneOf(SUPPRESSION_SCOPES))
    value = fields.String(allow_none=True, load_default=None)
    reason = fields.String(required=True, validate=validate.OneOf(SUPPRESSION_REASONS))
    expires_at = fields.AwareDateTime(allow_none=True, load_default=None)
    active = fields.Boolean(required=True)
    changed_at = fields.AwareDateTime(required=True)


class ContactEvent(_Strict):
    """A behavioural event on the contact's timeline."""

    event_id = _id(required=True)
    contact_id = _id(required=True)
    type = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,63}$"))
    occurred_at = fields.AwareDateTime(required=True)
    data = fields.Dict(load_default=dict)


class InteractionRecorded(_Strict):
    """Something the contact did through a channel, to be put on the timeline as an event."""

    interaction_id = _id(required=True)
    contact_id = _id(required=True)
    type = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,63}$"))
    occurred_at = fields.AwareDateTime(required=True)
    data = fields.Dict(load_default=dict)


class Recipient(Schema):
    """Where to reach the contact, as the requester knew it."""

    class Meta:
        unknown = INCLUDE

    email = fields.String(allow_none=True, load_default=None)
    phone = fields.String(allow_none=True, load_default=None)
    first_name = fields.String(allow_none=True, load_default=None)
    last_name = fields.String(allow_none=True, load_default=None)
    time_zone = fields.String(allow_none=True, load_default=None)
    locale = fields.String(allow_none=True, load_default=None)


class MessageRequested(_Strict):
    """Ask the gate to send one message; `request_id` is its idempotency key."""

    request_id = _id(required=True)
    contact_id = _id(required=True)
    channel = CHANNEL
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    campaign_id = fields.String(allow_none=True, load_default=None)
    campaign_version = fields.Integer(allow_none=True, load_default=None)
    step_id = fields.String(allow_none=True, load_default=None)
    occurrence = fields.String(allow_none=True, load_default=None)
    topic = fields.String(allow_none=True, load_default=None)
    priority = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100))
    expires_at = fields.AwareDateTime(allow_none=True, load_default=None)
    content = fields.Dict(required=True)
    recipient = fields.Nested(Recipient, allow_none=True, load_default=None)
    deferrals = fields.Integer(load_default=0, validate=validate.Range(min=0))


class MessageOutcome(_Strict):
    """A gate decision or a delivery outcome of one request."""

    request_id = _id(required=True)
    contact_id = _id(required=True)
    channel = CHANNEL
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    reason = fields.String(allow_none=True, load_default=None)
    rule_id = fields.String(allow_none=True, load_default=None)
    detail = fields.String(allow_none=True, load_default=None)
    campaign_id = fields.String(allow_none=True, load_default=None)
    campaign_version = fields.Integer(allow_none=True, load_default=None)
    step_id = fields.String(allow_none=True, load_default=None)
    occurrence = fields.String(allow_none=True, load_default=None)
    category = fields.String(allow_none=True, load_default=None)
    decided_at = fields.AwareDateTime(required=True)
    defer_until = fields.AwareDateTime(allow_none=True, load_default=None)
    request = fields.Dict(allow_none=True, load_default=None)  # the original request, on `deferred`


class ScheduleRequested(_Strict):
    """Publish `message_type` with `payload` at `due_at` (at least once; `entry_id` dedups)."""

    entry_id = _id(required=True)
    due_at = fields.AwareDateTime(required=True)
    message_type = fields.String(required=True, validate=validate.OneOf(("step.due", "message.requested",
                                                                          "broadcast.due")))
    key = fields.String(allow_none=True, load_default=None)
    owner = fields.String(allow_none=True, load_default=None)
    payload = fields.Dict(required=True)


class ScheduleCancelled(_Strict):
    """Drop pending entries by id or by owner."""

    entry_id = fields.String(allow_none=True, load_default=None)
    owner = fields.String(allow_none=True, load_default=None)


class RecurringScheduleUpserted(_Strict):
    """A broadcast schedule: once at `at`, or on `cron` in `timezone`."""

    schedule_id = _id(required=True)
    owner = fields.String(allow_none=True, load_default=None)
    at = fields.AwareDateTime(allow_none=True, load_default=None)
    cron = fields.String(allow_none=True, load_default=None)
    timezone = fields.String(load_default="UTC")
    message_type = fields.String(load_default="broadcast.due", validate=validate.OneOf(("broadcast.due",)))
    payload = fields.Dict(load_default=dict)


class RecurringScheduleRemoved(_Strict):
    """A broadcast schedule is gone."""

    schedule_id = _id(required=True)


class StepDue(Schema):
    """A drip wait is over (the payload is the campaign service's own, passed through)."""

    class Meta:
        unknown = INCLUDE

    enrollment_id = _id(required=True)
    step_id = _id(required=True)


class BroadcastDue(Schema):
    """A broadcast schedule fired at `fire_time`."""

    class Meta:
        unknown = INCLUDE

    schedule_id = _id(required=True)
    fire_time = fields.AwareDateTime(required=True)


class BroadcastPage(_Strict):
    """The next page of a running broadcast: one message per page keeps each transaction short."""

    campaign_id = _id(required=True)
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    occurrence = _id(required=True)
    segment_id = _id(required=True)
    after = _id(required=True)


class SendPlanned(_Strict):
    """A send planned for `due_at`: `plan_id` names it; (campaign_id, step_id, contact_id, occurrence) is the
    step occurrence of the request that will carry it, which ends the plan when it reaches the gate."""

    plan_id = _id(required=True)
    contact_id = _id(required=True)
    channel = CHANNEL
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    priority = fields.Integer(required=True, validate=validate.Range(min=0, max=100))
    due_at = fields.AwareDateTime(required=True)
    campaign_id = _id(required=True)
    step_id = _id(required=True)
    occurrence = _id(required=True)
    planned_at = fields.AwareDateTime(required=True)


class SendPlanCancelled(_Strict):
    """Planned sends that will not come: one (`plan_id`) or every one of a campaign (`campaign_id`); a
    message naming neither cancels nothing (no schema hook: contracts stay on the fast loader's path)."""

    plan_id = _id(allow_none=True, load_default=None)
    campaign_id = _id(allow_none=True, load_default=None)
    cancelled_at = fields.AwareDateTime(required=True)


# Every contract, in one explicit list. Order matters for patterns: an exact type wins over a pattern,
# and among patterns the first that matches (`message.requested` is exact, `message.*` the rest).
CONTRACTS: tuple[tuple[str, int, type[Schema]], ...] = (
    ("contact.upserted", 1, ContactUpserted),
    ("contact.erased", 1, ContactErased),
    ("contact.merged", 1, ContactMerged),
    ("contact.consent.changed", 1, ConsentChanged),
    ("contact.suppression.changed", 1, SuppressionChanged),
    ("contact.event.*", 1, ContactEvent),
    ("interaction.recorded", 1, InteractionRecorded),
    ("message.requested", 1, MessageRequested),
    ("message.*", 1, MessageOutcome),
    ("schedule.requested", 1, ScheduleRequested),
    ("schedule.cancelled", 1, ScheduleCancelled),
    ("schedule.recurring.upserted", 1, RecurringScheduleUpserted),
    ("schedule.recurring.removed", 1, RecurringScheduleRemoved),
    ("step.due", 1, StepDue),
    ("broadcast.due", 1, BroadcastDue),
    ("campaign.broadcast.page", 1, BroadcastPage),
    ("send.planned", 1, SendPlanned),
    ("send.plan_cancelled", 1, SendPlanCancelled),
)


def register_contracts() -> None:
    """Register every message contract with the registry consumers validate payloads against.

    Called once at start-up by the shared service bootstrap (`shared.runtime.Worker`, and
    `shared.http.create_service_app` for the API process); idempotent, so tests may call it too.
    """
    for type_pattern, version, schema in CONTRACTS:
        register(type_pattern, version, schema)
