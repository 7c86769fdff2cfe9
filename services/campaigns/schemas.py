"""Marshmallow schemas of the campaigns service's HTTP bodies (shape only; meaning is domain.validation).

Definition errors are reported with the same paths the domain uses (`steps[2].next`), whether
the shape check or the meaning check found them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from services.campaigns.domain.proof import MAX_SEEDS
from services.campaigns.domain.steps import REGISTRY
from services.campaigns.domain.steps.base import CHANNEL, STEP_ID

STATUSES = ("draft", "active", "paused", "archived")


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested error dict into {'steps[2].next': [...]} paths."""
    if not isinstance(messages, Mapping):
        return {prefix or "_schema": messages if isinstance(messages, list) else [str(messages)]}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            path = f"{prefix}[{key}]"
        elif key == "_schema":
            path = prefix or "_schema"
        else:
            path = f"{prefix}.{key}" if prefix else str(key)
        flat.update(flatten_errors(value, path))
    return flat


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class _Flat(_Strict):
    """A schema whose errors come out as flat paths."""

    def handle_error(self, error: ValidationError, data: Any, *, many: bool, **kwargs: Any) -> None:
        """Re-raise with flattened field paths."""
        raise ValidationError(flatten_errors(error.messages))


class ByType(fields.Field):
    """A polymorphic object: its `type` picks the schema that loads it."""

    def __init__(self, schemas: Mapping[str, type[Schema]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schemas = schemas

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValidationError("must be an object")
        schema = self.schemas.get(value.get("type"))
        if schema is None:
            raise ValidationError({"type": [f"must be one of {sorted(self.schemas)}"]})
        return schema().load(value)


class ScheduleSchema(_Strict):
    """When a segment broadcast runs: once `at`, or on `cron` in `timezone`."""

    at = fields.String()
    cron = fields.String(validate=validate.Length(max=200))
    timezone = fields.String(validate=validate.Length(max=64))


class SegmentEntrySchema(_Strict):
    """Enroll a segment's members on a schedule."""

    type = fields.String(required=True)
    segment_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    schedule = fields.Nested(ScheduleSchema, required=True)
    start_step = fields.String(allow_none=True, validate=STEP_ID)


class EventEntrySchema(_Strict):
    """Enroll a contact when an event arrives and the condition holds."""

    type = fields.String(required=True)
    event_type = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,63}$"))
    condition = fields.String(allow_none=True, validate=validate.Length(max=4000))
    start_step = fields.String(allow_none=True, validate=STEP_ID)


class ExitGoalSchema(_Strict):
    """An event that ends an enrollment as converted."""

    event_type = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,63}$"))
    condition = fields.String(allow_none=True, validate=validate.Length(max=4000))
    suppress_topic = fields.String(allow_none=True, validate=validate.Length(min=1, max=200))


class ReentrySchema(_Strict):
    """Whether a contact may enroll again."""

    policy = fields.String(required=True)
    cooldown = fields.String()


class DefinitionSchema(_Flat):
    """A campaign definition as the marketer posts it."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    category = fields.String(required=True)
    priority = fields.Integer(strict=True, validate=validate.Range(min=0, max=100))
    topic = fields.String(allow_none=True, validate=validate.Length(max=200))
    entry = ByType({"segment": SegmentEntrySchema, "event": EventEntrySchema}, required=True)
    # Each step's shape is declared by its type (domain/steps/<type>.py).
    steps = fields.List(ByType({name: kind.schema for name, kind in REGISTRY.items()}),
                        required=True, validate=validate.Length(min=1, max=200))
    exit_goals = fields.List(fields.Nested(ExitGoalSchema), validate=validate.Length(max=50))
    reentry = fields.Nested(ReentrySchema)
    proof_recipients = fields.Dict(
        keys=fields.String(validate=CHANNEL),
        values=fields.List(fields.String(validate=validate.Length(min=1, max=320)),
                           validate=validate.Length(min=1, max=MAX_SEEDS)),
        validate=validate.Length(max=20),
        metadata={"description": "seed addresses of proof sends per channel: email addresses or international "
                                 "phone numbers (POST /campaigns/{id}/proof)"})
    requires_approval = fields.Boolean(metadata={"description": "activation needs a current approval by a second "
                                                                "key (POST /campaigns/{id}/approval)"})


class VersionSchema(Schema):
    """One frozen version of an active campaign."""

    version = fields.Integer()
    created_at = fields.DateTime()


class ApprovalSchema(Schema):
    """Who approved which revision of the campaign, when, and whether that approval still holds."""

    revision = fields.Integer()
    approved_by = fields.String(metadata={"description": "the approving API key's id"})
    approved_by_name = fields.String(allow_none=True, metadata={"description": "the approving API key's name"})
    approved_at = fields.DateTime()
    current = fields.Boolean(metadata={"description": "false once the campaign changed after the approval"})


class CampaignSchema(Schema):
    """A campaign as answered."""

    campaign_id = fields.String()
    name = fields.String()
    status = fields.String()
    version = fields.Integer(allow_none=True)
    definition = fields.Dict()
    versions = fields.List(fields.Nested(VersionSchema))
    revision = fields.Integer(metadata={"description": "one more with every change of the definition"})
    changed_by = fields.String(allow_none=True, metadata={"description": "the API key id of the last change"})
    requires_approval = fields.Boolean(metadata={"description": "activation needs a current approval"})
    approval = fields.Nested(ApprovalSchema, allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ApprovalRequestSchema(_Flat):
    """An approval of the campaign's current revision."""

    revision = fields.Integer(strict=True, validate=validate.Range(min=1, max=2**31 - 1),
                              metadata={"description": "the revision the approver reviewed; refused (409) when the "
                                                       "campaign has changed since"})


class CampaignListQuery(_Flat):
    """Filters and keyset paging of the campaign list."""

    status = fields.String(validate=validate.OneOf(STATUSES))
    after = fields.String(validate=validate.Length(max=36))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class ForecastStepSchema(Schema):
    """The send step a forecast asks the gate about: the first one reachable from the start."""

    step_id = fields.String()
    channel = fields.String()
    category = fields.String()
    priority = fields.Integer()
    topic = fields.String(allow_none=True)


class ForecastRuleSchema(Schema):
    """How many members one (outcome, reason, rule_id) would get."""

    outcome = fields.String()
    reason = fields.String()
    rule_id = fields.String(allow_none=True)
    count = fields.Integer()


class ForecastSchema(Schema):
    """What the gate would decide right now for each member of the segment, counted; a snapshot."""

    campaign_id = fields.String()
    segment_id = fields.String()
    members = fields.Integer(metadata={"description": "segment members forecast"})
    step = fields.Nested(ForecastStepSchema)
    by_outcome = fields.Dict(keys=fields.String(), values=fields.Integer(),
                             metadata={"description": "send, deferred, suppressed, capped, expired, duplicate"})
    by_rule = fields.List(fields.Nested(ForecastRuleSchema))
    evaluated_at = fields.DateTime()
    elapsed_ms = fields.Integer(metadata={"description": "how long the forecast took"})


class TemplateInSchema(_Flat):
    """A template to create or replace."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    channel = fields.String(required=True, validate=CHANNEL)
    subject = fields.String(allow_none=True, validate=validate.Length(max=1000))
    body = fields.String(required=True, validate=validate.Length(max=200_000))
    html = fields.String(allow_none=True, validate=validate.Length(max=500_000))


class TemplateSchema(Schema):
    """A template as answered."""

    template_id = fields.String()
    name = fields.String()
    channel = fields.String()
    subject = fields.String(allow_none=True)
    body = fields.String()
    html = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PreviewSchema(_Flat):
    """A sample contact (fields and `attributes`) and event (`type`, `data`) to render against."""

    contact = fields.Dict(load_default=dict)
    event = fields.Dict(load_default=dict)
    step_id = fields.String(validate=STEP_ID)


class RenderedSchema(Schema):
    """A rendered message."""

    step_id = fields.String()
    channel = fields.String()
    subject = fields.String(allow_none=True)
    body = fields.String()
    html = fields.String(allow_none=True)


class CampaignPreviewSchema(Schema):
    """Every send step rendered."""

    steps = fields.List(fields.Nested(RenderedSchema))


class ProofRequestSchema(_Flat):
    """Whom to render a proof for: a known `contact_id`, a sample `contact`, or (neither) the built-in sample."""

    contact_id = fields.String(validate=validate.Length(min=1, max=128),
                               metadata={"description": "render for this contact (campaigns' copy of it); the "
                                                        "proof still goes to the seed addresses only"})
    contact = fields.Dict(metadata={"description": "a sample contact (fields and `attributes`) instead"})
    event = fields.Dict(load_default=dict)
    step_id = fields.String(validate=STEP_ID, metadata={"description": "only this send step"})

    @validates_schema
    def _one_contact(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "contact_id" in data and "contact" in data:
            raise ValidationError("give contact_id or contact, not both", "contact_id")


class ProofDeliverySchema(Schema):
    """What became of a proof at one seed address (as the channels service answered)."""

    to = fields.String()
    status = fields.String(metadata={"description": "sent | failed | refused (the channel does not deliver to "
                                                    "this kind of address)"})
    detail = fields.String()
    provider_id = fields.String(allow_none=True)


class ProofStepSchema(RenderedSchema):
    """One send step of a proof: rendered (unmarked), its seed addresses, and what each got."""

    recipients = fields.List(fields.String())
    deliveries = fields.List(fields.Nested(ProofDeliverySchema))
    skipped = fields.String(allow_none=True, metadata={"description": "why the step was not sent (no seed "
                                                                      "address for its channel, channels unavailable)"})


class ProofResultSchema(Schema):
    """Every send step of the campaign and what was sent to whom."""

    proof_id = fields.String()
    campaign_id = fields.String()
    contact_id = fields.String(allow_none=True, metadata={"description": "null: the built-in or given sample"})
    steps = fields.List(fields.Nested(ProofStepSchema))


class ControlArmSchema(Schema):
    """Contacts of one side of the control-group comparison and how many converted (met an exit goal)."""

    contacts = fields.Integer()
    converted = fields.Integer()
    rate = fields.Float(allow_none=True, metadata={"description": "converted / contacts; null without contacts"})


class ConfidenceIntervalSchema(Schema):
    """A 95 % confidence interval."""

    low = fields.Float()
    high = fields.Float()


class ControlGroupReportSchema(Schema):
    """Conversions of treated contacts against the global control group (docs/campaigns.md, "Control group")."""

    treated = fields.Nested(ControlArmSchema, metadata={"description": "contacts a send of the campaign got past "
                                                                "the gate's control-group check"})
    control = fields.Nested(ControlArmSchema, metadata={"description": "contacts the gate held back for the control group"})
    mixed = fields.Integer(metadata={"description": "contacts held back for some sends and not for others (the "
                                                    "group changed while the campaign ran); in neither side"})
    difference = fields.Float(allow_none=True, metadata={"description": "treated rate minus control rate"})
    ci95 = fields.Nested(ConfidenceIntervalSchema, allow_none=True,
                         metadata={"description": "95 % interval of `difference` (Wald, see `method`)"})
    lift = fields.Float(allow_none=True, metadata={"description": "difference / control rate (0.25 = +25 %)"})
    method = fields.String(metadata={"description": "the interval's method: `wald`"})
    min_group = fields.Integer(metadata={"description": "contacts each side needs before the figures are shown"})
    reason = fields.String(allow_none=True, validate=validate.OneOf(
        ("no_control_group", "no_treated_contacts", "too_few_contacts", "no_control_conversions")),
        metadata={"description": "why `difference`, `ci95` or `lift` is null; null when all are given"})


class VariantReportSchema(Schema):
    """Counts of one A/B variant, with its own control-group comparison."""

    enrolled = fields.Integer()
    converted = fields.Integer()
    requested = fields.Integer()
    sent = fields.Integer()
    control_group = fields.Nested(ControlGroupReportSchema)


class ReportSchema(Schema):
    """Counts per campaign, step and A/B variant, and the control-group comparison."""

    campaign_id = fields.String()
    enrollments = fields.Dict()
    steps = fields.Dict()
    variants = fields.Dict(keys=fields.String(), values=fields.Nested(VariantReportSchema))
    control_group = fields.Nested(ControlGroupReportSchema)
    broadcasts = fields.List(fields.Dict())


class TemplateListQuery(_Flat):
    """Filter of the template list."""

    channel = fields.String(validate=CHANNEL)


class TemplatePreviewSchema(_Flat):
    """A sample contact and event to render a template against."""

    contact = fields.Dict(load_default=dict)
    event = fields.Dict(load_default=dict)


class TemplatePreviewOut(Schema):
    """A rendered template."""

    channel = fields.String()
    subject = fields.String(allow_none=True)
    body = fields.String()
    html = fields.String(allow_none=True)
