"""Marshmallow schemas of the channels service's HTTP bodies (unknown fields are rejected)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.channels.domain import CapacityWindow, CapScope, WhenFull
from services.channels.domain.capacity import zone
from services.channels.domain.proof import seed_address
from shared.contracts import CATEGORIES
from shared.control_group import MAX_PERCENT

CHANNEL = validate.Regexp(r"^[a-z][a-z0-9_]{0,31}$", error="a channel name: lowercase letters, digits, _")
HHMM = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="a time as HH:MM")
ID = validate.Length(min=1, max=128)


class CapSchema(Schema):
    """A frequency cap: `limit` touches per rolling `window_seconds`, counting the touches in scope."""

    id = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.:-]{1,64}$"))
    limit = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=10_000))
    window_seconds = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=366 * 86_400))
    scope = fields.String(load_default="all", validate=validate.OneOf([s.value for s in CapScope]))
    scope_value = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=1, max=128))


class WindowSchema(Schema):
    """A send window in the contact's local time: weekdays (0=Monday) and HH:MM start/end."""

    weekdays = fields.List(fields.Integer(strict=True, validate=validate.Range(min=0, max=6)), required=True,
                           validate=validate.Length(min=1, max=7))
    start = fields.String(required=True, validate=HHMM)
    end = fields.String(required=True, validate=HHMM)


class ControlGroupSchema(Schema):
    """The global control group: `percent` % of contacts (0..50, 0.01 resolution) drawn by `salt` get no marketing."""

    percent = fields.Float(required=True, validate=validate.Range(min=0, max=MAX_PERCENT))
    salt = fields.String(required=True, validate=validate.Length(min=1, max=64))


def _iana_zone(name: str) -> None:
    try:
        zone(name)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


class CapacitySchema(Schema):
    """A capacity rule: at most `limit` messages on `channel` (of `category`, or every non-transactional one)
    per calendar `window` of `time_zone`, for all contacts together; `when_full` says what happens then."""

    id = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.:-]{1,64}$"))
    channel = fields.String(required=True, validate=CHANNEL)
    category = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(("service", "marketing")),
                             metadata={"description": "null: service and marketing (transactional never counts)"})
    limit = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=100_000_000))
    window = fields.String(required=True, validate=validate.OneOf([w.value for w in CapacityWindow]),
                           metadata={"description": "calendar hour, day or ISO week (Monday first) of time_zone"})
    time_zone = fields.String(required=True, validate=[validate.Length(min=1, max=64), _iana_zone],
                              metadata={"description": "an IANA time zone name, e.g. Europe/Amsterdam"})
    when_full = fields.String(required=True, validate=validate.OneOf([w.value for w in WhenFull]),
                              metadata={"description": "defer to the next window's start, or expire"})


def _unique_capacity_ids(rules: list[dict]) -> None:
    ids = [rule["id"] for rule in rules]
    if len(set(ids)) != len(ids):
        raise ValidationError("capacity rule ids must be unique")


class PolicySchema(Schema):
    """The whole rule set of the gate; every field is required so a partial body never resets the rest."""

    caps = fields.List(fields.Nested(CapSchema), required=True, validate=validate.Length(max=100))
    min_marketing_gap_seconds = fields.Integer(strict=True, allow_none=True, required=True,
                                               validate=validate.Range(min=0, max=366 * 86_400))
    quiet_hours = fields.Dict(keys=fields.String(validate=CHANNEL),
                              values=fields.List(fields.Nested(WindowSchema), validate=validate.Length(max=20)),
                              required=True)
    opt_in_channels = fields.List(fields.String(validate=CHANNEL), required=True, validate=validate.Length(max=100))
    # Required like the rest (null means off): a PUT from a client that does not know the member must
    # not switch an operator's control group off by leaving it out.
    control_group = fields.Nested(ControlGroupSchema, allow_none=True, required=True)
    # Required too (`[]` for none), for the same reason.
    capacity = fields.List(fields.Nested(CapacitySchema), required=True,
                           validate=[validate.Length(max=100), _unique_capacity_ids])
    version = fields.Integer(dump_only=True)


class PolicyPatchSchema(Schema):
    """A JSON merge patch (RFC 7396) of the rule set: a member present replaces, `null` removes."""

    caps = fields.List(fields.Nested(CapSchema), allow_none=True, validate=validate.Length(max=100))
    min_marketing_gap_seconds = fields.Integer(strict=True, allow_none=True,
                                               validate=validate.Range(min=0, max=366 * 86_400))
    quiet_hours = fields.Dict(keys=fields.String(validate=CHANNEL),
                              values=fields.List(fields.Nested(WindowSchema), allow_none=True,
                                                 validate=validate.Length(max=20)),
                              allow_none=True)
    opt_in_channels = fields.List(fields.String(validate=CHANNEL), allow_none=True, validate=validate.Length(max=100))
    control_group = fields.Dict(allow_none=True)  # merged into the stored group, then validated as a whole
    capacity = fields.List(fields.Nested(CapacitySchema), allow_none=True,
                           validate=[validate.Length(max=100), _unique_capacity_ids])


class PolicyWriteQuerySchema(Schema):
    """Query of `PUT/PATCH /policy`: a rule set with no rule at all is refused unless `allow_empty=true`."""

    allow_empty = fields.Boolean(load_default=False)


class DecisionQuerySchema(Schema):
    """Filters of `GET /decisions`; at least one of contact_id, request_id, campaign_id."""

    contact_id = fields.String(validate=ID)
    request_id = fields.String(validate=ID)
    campaign_id = fields.String(validate=ID)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))

    @validates_schema
    def _one_filter(self, data, **kwargs) -> None:
        if not any(data.get(k) for k in ("contact_id", "request_id", "campaign_id")):
            raise ValidationError("give contact_id, request_id or campaign_id", "contact_id")


class DeliveryStatusSchema(Schema):
    """Where a send decision's delivery stands."""

    state = fields.String()
    attempts = fields.Integer()
    provider_id = fields.String(allow_none=True)
    detail = fields.String(allow_none=True)
    updated_at = fields.DateTime()


class DecisionSchema(Schema):
    """One decision of the gate: why a contact got, or did not get, a message."""

    request_id = fields.String()
    attempt = fields.Integer()
    contact_id = fields.String()
    channel = fields.String()
    category = fields.String()
    campaign_id = fields.String(allow_none=True)
    step_id = fields.String(allow_none=True)
    occurrence = fields.String(allow_none=True)
    outcome = fields.String()
    reason = fields.String()
    rule_id = fields.String(allow_none=True)
    detail = fields.String()
    defer_until = fields.DateTime(allow_none=True)
    decided_at = fields.DateTime()
    yielded_to = fields.String(allow_none=True, metadata={"description": "the planned message (plan id) a "
                               "look-ahead cap decision gave its slot to"})
    delivery = fields.Nested(DeliveryStatusSchema, allow_none=True)


class DryRunSchema(Schema):
    """A would-be message to evaluate against the policy without reserving anything."""

    contact_id = fields.String(required=True, validate=ID)
    channel = fields.String(required=True, validate=CHANNEL)
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    campaign_id = fields.String(allow_none=True, load_default=None, validate=ID)
    topic = fields.String(allow_none=True, load_default=None, validate=ID)
    priority = fields.Integer(strict=True, load_default=0, validate=validate.Range(min=0, max=100))
    expires_at = fields.AwareDateTime(allow_none=True, load_default=None)
    at = fields.AwareDateTime(allow_none=True, load_default=None)


class DryRunResultSchema(Schema):
    """What the gate would decide."""

    outcome = fields.String()
    reason = fields.String()
    rule_id = fields.String(allow_none=True)
    detail = fields.String()
    defer_until = fields.DateTime(allow_none=True)
    yielded_to = fields.String(allow_none=True)
    evaluated_at = fields.DateTime()


MAX_FORECAST_CONTACTS = 5000


class ForecastMessageSchema(Schema):
    """The message a forecast asks about, the same for every contact (as a campaign step would request it)."""

    channel = fields.String(required=True, validate=CHANNEL)
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    campaign_id = fields.String(allow_none=True, load_default=None, validate=ID)
    step_id = fields.String(allow_none=True, load_default=None, validate=ID)
    topic = fields.String(allow_none=True, load_default=None, validate=ID)
    priority = fields.Integer(strict=True, load_default=0, validate=validate.Range(min=0, max=100))
    expires_at = fields.AwareDateTime(allow_none=True, load_default=None)


class ForecastContactSchema(Schema):
    """A contact to forecast for; `time_zone` stands in when the channels copy of the contact has none (as
    the `recipient.time_zone` of a request does at the gate)."""

    contact_id = fields.String(required=True, validate=ID)
    time_zone = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=1, max=64))


class ForecastContactList(fields.List):
    """`List(Nested(ForecastContactSchema))` with a fast path: a list of well-formed contacts (the usual body of
    5,000) is checked in one loop instead of 5,000 nested schema loads; anything else goes through marshmallow,
    so the errors, and the OpenAPI document, are the nested schema's."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(fields.Nested(ForecastContactSchema), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[dict[str, Any]]:
        if isinstance(value, list):
            loaded = [_plain_contact(item) for item in value]
            if None not in loaded:
                return loaded  # type: ignore[return-value] - None was ruled out
        return super()._deserialize(value, attr, data, **kwargs)


def _plain_contact(item: Any) -> dict[str, Any] | None:
    """The loaded contact when `item` is one ForecastContactSchema accepts as it is, else None."""
    if type(item) is not dict or not item.keys() <= _CONTACT_KEYS:
        return None
    contact_id, time_zone = item.get("contact_id"), item.get("time_zone")
    if type(contact_id) is not str or not 1 <= len(contact_id) <= 128:
        return None
    if time_zone is not None and (type(time_zone) is not str or not 1 <= len(time_zone) <= 64):
        return None
    return {"contact_id": contact_id, "time_zone": time_zone}


_CONTACT_KEYS = frozenset(("contact_id", "time_zone"))


class ForecastSchema(Schema):
    """One message for up to 5,000 contacts, decided at `at` (default now); nothing is reserved."""

    message = fields.Nested(ForecastMessageSchema, required=True)
    contacts = ForecastContactList(required=True, validate=validate.Length(min=1, max=MAX_FORECAST_CONTACTS))
    at = fields.AwareDateTime(allow_none=True, load_default=None,
                              metadata={"description": "decide as of this instant; pass the same one to every "
                                                       "chunk of one forecast"})
    capacity_taken = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=64)),
        values=fields.Integer(strict=True, validate=validate.Range(min=0, max=100_000_000)),
        load_default=dict, validate=validate.Length(max=100),
        metadata={"description": "units of each capacity rule's current window taken by earlier chunks of this "
                                 "forecast (the previous answer's capacity_taken)"})


class ForecastRuleCountSchema(Schema):
    """How many contacts got one (outcome, reason, rule_id)."""

    outcome = fields.String()
    reason = fields.String()
    rule_id = fields.String(allow_none=True)
    count = fields.Integer()


class ForecastResultSchema(Schema):
    """Counts of what the gate would decide now; a snapshot (concurrent sends can change the outcome)."""

    evaluated = fields.Integer(metadata={"description": "how many contacts were decided"})
    by_outcome = fields.Dict(keys=fields.String(), values=fields.Integer(),
                             metadata={"description": "send, deferred, suppressed, capped, expired, duplicate"})
    by_rule = fields.List(fields.Nested(ForecastRuleCountSchema))
    capacity_taken = fields.Dict(keys=fields.String(), values=fields.Integer(),
                                 metadata={"description": "units this forecast so far would take, per capacity rule"})
    evaluated_at = fields.DateTime()


class DeliveryQuerySchema(Schema):
    """Filters of `GET /deliveries` (operators inspect dead letters here)."""

    state = fields.String(validate=validate.OneOf(("pending", "sending", "sent", "failed", "dead", "cancelled")))
    channel = fields.String(validate=CHANNEL)
    contact_id = fields.String(validate=ID)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class DeliverySchema(DeliveryStatusSchema):
    """A send job."""

    id = fields.Integer()
    request_id = fields.String()
    contact_id = fields.String()
    channel = fields.String()
    category = fields.String()
    next_attempt_at = fields.DateTime()
    created_at = fields.DateTime()


class TaskQuerySchema(Schema):
    """Filters of `GET /tasks`."""

    status = fields.String(load_default="open", validate=validate.OneOf(("open", "claimed", "completed", "expired")))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    contact_id = fields.String(load_default=None, validate=ID)
    campaign_id = fields.String(load_default=None, validate=ID)
    mine = fields.Boolean(load_default=False, metadata={"description": "only tasks claimed by the caller's key"})
    cursor = fields.String(load_default=None, validate=validate.Length(min=1, max=512),
                           metadata={"description": "the X-Next-Cursor header of the previous page"})


class TaskSchema(Schema):
    """A call-center task."""

    id = fields.Integer()
    request_id = fields.String()
    contact_id = fields.String()
    campaign_id = fields.String(allow_none=True)
    priority = fields.Integer()
    status = fields.String()
    script = fields.Dict(allow_none=True)
    claimed_by = fields.String(allow_none=True)
    claimed_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    outcome = fields.String(allow_none=True)
    notes = fields.String(allow_none=True)
    expires_at = fields.DateTime()
    created_at = fields.DateTime()


class TaskCompleteSchema(Schema):
    """How the call went."""

    outcome = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,63}$"))
    notes = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=4000))


class OfferSchema(Schema):
    """A web offer on a contact's page."""

    id = fields.Integer()
    request_id = fields.String()
    contact_id = fields.String()
    campaign_id = fields.String(allow_none=True)
    priority = fields.Integer()
    status = fields.String()
    content = fields.Dict(allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class EmailEventSchema(Schema):
    """A bounce or complaint reported by the email provider; names the request, the address or the contact."""

    type = fields.String(required=True, validate=validate.OneOf(("bounce", "complaint")))
    # A soft bounce (mailbox full, greylisted) is temporary: noted, never a suppression. A provider
    # that does not say is taken to report a hard bounce, the only kind most of them call back about.
    bounce_type = fields.String(load_default="hard", validate=validate.OneOf(("hard", "soft")))
    request_id = fields.String(allow_none=True, load_default=None, validate=ID)
    email = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=3, max=320))
    contact_id = fields.String(allow_none=True, load_default=None, validate=ID)
    detail = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))

    @validates_schema
    def _who(self, data, **kwargs) -> None:
        if not any(data.get(k) for k in ("request_id", "email", "contact_id")):
            raise ValidationError("give request_id, email or contact_id", "request_id")


class SmsReceiptSchema(Schema):
    """A delivery receipt from the SMS gateway (`id` is the gateway's message id)."""

    id = fields.String(required=True, validate=ID)
    status = fields.String(required=True, validate=validate.OneOf(("delivered", "failed", "undelivered")))
    detail = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))


class SmsInboundSchema(Schema):
    """A message a contact sent to our number."""

    sender = fields.String(required=True, data_key="from", validate=validate.Length(min=3, max=32))
    text = fields.String(required=True, validate=validate.Length(max=2000))


MAX_PROOF_RECIPIENTS = 20


class SeedAddress(fields.String):
    """A seed address of a proof: an email address, or an international phone number (+...)."""

    def _deserialize(self, value, attr, data, **kwargs):  # noqa: ANN001, ANN202 - marshmallow's signature
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            seed_address(text)
        except ValueError as exc:
            raise ValidationError(f"neither an email address nor a phone number: {exc}") from exc
        return text


class ProofContentSchema(Schema):
    """The rendered message, as a campaign's send step would request it."""

    subject = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=1000))
    body = fields.String(required=True, validate=validate.Length(max=200_000))
    html = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=500_000))


class ProofSchema(Schema):
    """A proof: one rendered message, marked and sent to each seed address at once (docs/channels.md, "Proofs")."""

    proof_id = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,64}$"),
                             metadata={"description": "the caller's id of this proof (a Message-ID part)"})
    channel = fields.String(required=True, validate=CHANNEL)
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    content = fields.Nested(ProofContentSchema, required=True)
    recipients = fields.List(SeedAddress(validate=validate.Length(min=3, max=320)), required=True,
                             validate=validate.Length(min=1, max=MAX_PROOF_RECIPIENTS))
    campaign_id = fields.String(allow_none=True, load_default=None, validate=ID)
    step_id = fields.String(allow_none=True, load_default=None, validate=ID)
    contact_id = fields.String(allow_none=True, load_default=None, validate=ID,
                               metadata={"description": "the contact the message was rendered for; it is not sent to"})
    topic = fields.String(allow_none=True, load_default=None, validate=ID)


class ProofDeliverySchema(Schema):
    """What became of the proof at one seed address."""

    to = fields.String(metadata={"description": "the seed address in its normal form"})
    status = fields.String(metadata={"description": "sent | failed (the provider refused or was unreachable) | "
                                                    "refused (the channel does not deliver to this kind of address)"})
    detail = fields.String()
    provider_id = fields.String(allow_none=True)


class ProofResultSchema(Schema):
    """One result per seed address."""

    proof_id = fields.String()
    channel = fields.String()
    deliveries = fields.List(fields.Nested(ProofDeliverySchema))
