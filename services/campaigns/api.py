"""HTTP layer of the campaigns service: parse with a schema, call a handler, dump with a schema."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from services.campaigns import schemas as s
from services.campaigns.gate_forecast import gate_from_settings
from services.campaigns.handlers import definitions, proofs, reports
from services.campaigns.handlers import forecast as forecasts
from services.campaigns.handlers import templates as tpl
from services.campaigns.proof_sender import proofs_from_settings
from services.campaigns.segments import source_from_settings
from shared.errors import Unavailable
from shared.http import current_key, roles_required
from shared.http.audit import record_change
from shared.http.context import clock, service_context, unit_of_work, units_of_work
from shared.http.openapi import alt_problem

campaigns_blp = Blueprint("campaigns", __name__, url_prefix="/campaigns",
                          description="Campaign definitions, lifecycle, previews and reports")
templates_blp = Blueprint("templates", __name__, url_prefix="/templates", description="Message templates")
ACTIONS = "any(activate, pause, resume, archive)"


def known_channels() -> set[str]:
    """Channels a send step may name: the deployment's channel list (`shared.config.channel_names`)."""
    return set(service_context().settings.channels)


@campaigns_blp.route("")
class Campaigns(MethodView):
    """List and create campaigns."""

    @roles_required("marketer")
    @campaigns_blp.arguments(s.CampaignListQuery, location="query", unknown=RAISE)
    @campaigns_blp.response(200, s.CampaignSchema(many=True))
    def get(self, query):
        """List campaigns in id order (`after` = the last id of the previous page)."""
        with units_of_work().read() as uow:
            return definitions.list_campaigns(uow, query.get("status"), query.get("after"), query["limit"])

    @roles_required("marketer")
    @campaigns_blp.arguments(s.DefinitionSchema)
    @campaigns_blp.response(201, s.CampaignSchema)
    def post(self, body):
        """Save a new draft campaign."""
        with unit_of_work() as uow:
            campaign = definitions.create_campaign(uow, body, known_channels(), current_key().key_id)
            record_change(uow, "campaign.create", "campaign", campaign["campaign_id"], after=campaign)
            return campaign


@campaigns_blp.route("/<string:campaign_id>")
class CampaignItem(MethodView):
    """One campaign."""

    @roles_required("marketer")
    @campaigns_blp.response(200, s.CampaignSchema)
    def get(self, campaign_id):
        """A campaign with its versions."""
        with units_of_work().read() as uow:
            return definitions.get_campaign(uow, campaign_id)

    @roles_required("marketer")
    @campaigns_blp.arguments(s.DefinitionSchema)
    @campaigns_blp.response(200, s.CampaignSchema)
    @alt_problem(campaigns_blp, 409, "an archived campaign, or an active one that requires approval, cannot be "
                                     "changed")
    def put(self, body, campaign_id):
        """Replace the definition (a new version if the campaign has run)."""
        with unit_of_work() as uow:
            before = definitions.get_campaign(uow, campaign_id)
            campaign = definitions.update_campaign(uow, campaign_id, body, known_channels(), current_key().key_id)
            record_change(uow, "campaign.update", "campaign", campaign_id, before=before, after=campaign)
            return campaign

    @roles_required("marketer")
    @campaigns_blp.response(204)
    @alt_problem(campaigns_blp, 409, "only a draft that never ran can be deleted; archive it")
    def delete(self, campaign_id):
        """Delete a draft that never ran."""
        with unit_of_work() as uow:
            before = definitions.get_campaign(uow, campaign_id)
            definitions.delete_campaign(uow, campaign_id)
            record_change(uow, "campaign.delete", "campaign", campaign_id, before=before)


@campaigns_blp.route(f"/<string:campaign_id>/<{ACTIONS}:action>")
class CampaignLifecycle(MethodView):
    """activate | pause | resume | archive."""

    @roles_required("marketer")
    @campaigns_blp.response(200, s.CampaignSchema)
    @alt_problem(campaigns_blp, 409, "the campaign's status does not allow this action, or it requires a current "
                                     "approval")
    def post(self, campaign_id, action):
        """Move the campaign along draft -> active -> paused -> archived."""
        with unit_of_work() as uow:
            before = definitions.get_campaign(uow, campaign_id)
            campaign = definitions.transition(uow, campaign_id, action, known_channels(), clock().now())
            record_change(uow, f"campaign.{action}", "campaign", campaign_id, before=before, after=campaign)
            return campaign


@campaigns_blp.route("/<string:campaign_id>/approval")
class CampaignApproval(MethodView):
    """Four-eyes approval of a campaign's current revision."""

    @roles_required("marketer")
    @campaigns_blp.arguments(s.ApprovalRequestSchema)
    @campaigns_blp.response(200, s.CampaignSchema)
    @alt_problem(campaigns_blp, 409, "this key made the last change, the campaign changed since `revision`, or it "
                                     "is archived")
    def post(self, body, campaign_id):
        """Approve the campaign as it is now (its `revision`) with a key other than the one that last changed
        it; any later change voids the approval. A campaign with `requires_approval` runs only with a current one."""
        key = current_key()
        with unit_of_work() as uow:
            before = definitions.get_campaign(uow, campaign_id)
            campaign = definitions.approve_campaign(uow, campaign_id, key.key_id, key.name, body.get("revision"),
                                                    clock().now())
            record_change(uow, "campaign.approve", "campaign", campaign_id, before=before, after=campaign)
            return campaign


@campaigns_blp.route("/<string:campaign_id>/preview")
class CampaignPreview(MethodView):
    """Render a campaign's messages."""

    @roles_required("marketer")
    @campaigns_blp.arguments(s.PreviewSchema)
    @campaigns_blp.response(200, s.CampaignPreviewSchema)
    def post(self, body, campaign_id):
        """Render every send step (or `step_id`) for the sample `contact` and `event`."""
        with units_of_work().read() as uow:
            return {"steps": tpl.preview_campaign(uow, campaign_id, body["contact"], body["event"],
                                                  body.get("step_id"))}


@campaigns_blp.route("/<string:campaign_id>/proof")
class CampaignProof(MethodView):
    """Proof sends to the campaign's seed addresses."""

    @roles_required("marketer")
    @campaigns_blp.arguments(s.ProofRequestSchema)
    @campaigns_blp.response(200, s.ProofResultSchema)
    @alt_problem(campaigns_blp, 409, "the campaign has no proof_recipients")
    @alt_problem(campaigns_blp, 503, "the channels service is not configured")
    def post(self, body, campaign_id):
        """Render every send step (or `step_id`) for a sample contact (or `contact_id`) and send each, marked as
        a proof, to the seed addresses of its channel (`proof_recipients`), outside caps and the contact's
        ledger; steps whose channel has no seed are listed with the reason."""
        with units_of_work().read() as uow:
            prepared = proofs.prepare_proof(uow, campaign_id, body.get("contact_id"), body.get("contact"),
                                            body["event"], body.get("step_id"))
        sender = proofs_from_settings(service_context().settings.extra)
        if sender is None:
            raise Unavailable("CAMPAIGNS_CHANNELS_URL is not configured")
        try:
            result = proofs.send_proof(prepared, sender)
        finally:
            sender.close()
        with unit_of_work() as uow:  # a proof changes nothing here; who sent which proof to whom is still on record
            record_change(uow, "campaign.proof", "campaign", campaign_id, after={"proof_id": result["proof_id"], "steps": [
                {k: step.get(k) for k in ("step_id", "channel", "recipients", "skipped")} for step in result["steps"]]})
        return result


@campaigns_blp.route("/<string:campaign_id>/report")
class CampaignReport(MethodView):
    """Counts of a campaign."""

    @roles_required("marketer")
    @campaigns_blp.response(200, s.ReportSchema)
    def get(self, campaign_id):
        """Enrollments, per-step requests and outcomes (suppressed by reason, capped by rule), per variant,
        and conversions of treated contacts against the global control group (`control_group`, also per variant)."""
        with units_of_work().read() as uow:
            return reports.campaign_report(uow, campaign_id)


@campaigns_blp.route("/<string:campaign_id>/forecast")
class CampaignForecast(MethodView):
    """What the gate would decide now for a segment campaign's members."""

    @roles_required("marketer")
    @campaigns_blp.response(200, s.ForecastSchema)
    @alt_problem(campaigns_blp, 409, "the campaign has no segment entry or no reachable send step")
    @alt_problem(campaigns_blp, 503, "the contacts or the channels service did not answer")
    def post(self, campaign_id):
        """For each member of the campaign's segment, what the gate would decide right now for the first send
        step (counts per outcome and per rule); nothing is enrolled, requested or reserved."""
        with units_of_work().read() as uow:
            segment_id, step = forecasts.forecast_target(uow, campaign_id)
        extra = service_context().settings.extra
        source, gate = source_from_settings(extra), gate_from_settings(extra)
        if source is None or gate is None:
            missing = "CAMPAIGNS_CONTACTS_URL" if source is None else "CAMPAIGNS_CHANNELS_URL"
            raise Unavailable(f"{missing} is not configured")
        try:
            return forecasts.forecast_segment(campaign_id, segment_id, step, source, gate, clock().now())
        finally:
            gate.close()
            source.close()


@templates_blp.route("")
class Templates(MethodView):
    """List and create templates."""

    @roles_required("marketer")
    @templates_blp.arguments(s.TemplateListQuery, location="query", unknown=RAISE)
    @templates_blp.response(200, s.TemplateSchema(many=True))
    def get(self, query):
        """List templates, optionally of one channel."""
        with units_of_work().read() as uow:
            return tpl.list_templates(uow, query.get("channel"))

    @roles_required("marketer")
    @templates_blp.arguments(s.TemplateInSchema)
    @templates_blp.response(201, s.TemplateSchema)
    def post(self, body):
        """Create a template; it must compile and use only `contact` and `event`."""
        with unit_of_work() as uow:
            template = tpl.save_template(uow, body)
            record_change(uow, "template.create", "template", template["template_id"], after=template)
            return template


@templates_blp.route("/<string:template_id>")
class TemplateItem(MethodView):
    """One template."""

    @roles_required("marketer")
    @templates_blp.response(200, s.TemplateSchema)
    def get(self, template_id):
        """A template."""
        with units_of_work().read() as uow:
            return tpl.get_template(uow, template_id)

    @roles_required("marketer")
    @templates_blp.arguments(s.TemplateInSchema)
    @templates_blp.response(200, s.TemplateSchema)
    @alt_problem(templates_blp, 409, "campaigns use this template, so its channel cannot change")
    def put(self, body, template_id):
        """Replace a template."""
        with unit_of_work() as uow:
            before = tpl.get_template(uow, template_id)
            template = tpl.save_template(uow, body, template_id)
            record_change(uow, "template.update", "template", template_id, before=before, after=template)
            return template

    @roles_required("marketer")
    @templates_blp.response(204)
    @alt_problem(templates_blp, 409, "campaigns that are not archived use this template")
    def delete(self, template_id):
        """Delete a template no campaign uses."""
        with unit_of_work() as uow:
            before = tpl.get_template(uow, template_id)
            tpl.delete_template(uow, template_id)
            record_change(uow, "template.delete", "template", template_id, before=before)


@templates_blp.route("/<string:template_id>/preview")
class TemplatePreview(MethodView):
    """Render a template."""

    @roles_required("marketer")
    @templates_blp.arguments(s.TemplatePreviewSchema)
    @templates_blp.response(200, s.TemplatePreviewOut)
    def post(self, body, template_id):
        """Render for the sample `contact` and `event`."""
        with units_of_work().read() as uow:
            return tpl.preview_template(uow, template_id, body["contact"], body["event"])


def blueprints() -> list[Blueprint]:
    """The service's blueprints."""
    return [campaigns_blp, templates_blp]
