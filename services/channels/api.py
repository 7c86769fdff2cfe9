"""HTTP layer of the channels service: policy rules, decisions, dry runs, deliveries.

Views parse with a schema, call a use case of `handlers.policy` in a unit of work and dump with a
schema. Agents' and the website's endpoints are in `agents.py`, provider webhooks in `webhooks.py`.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import ValidationError

from services.channels.adapters.base import AdapterContext
from services.channels.adapters.registry import build_adapters, parse_config
from services.channels.domain import PolicyRules
from services.channels.handlers import forecast as forecasts
from services.channels.handlers import policy
from services.channels.handlers.proofs import deliver_proofs
from services.channels.rules import from_document, sets_no_rule
from services.channels.schemas import (
    DecisionQuerySchema,
    DecisionSchema,
    DeliveryQuerySchema,
    DeliverySchema,
    DryRunResultSchema,
    DryRunSchema,
    ForecastResultSchema,
    ForecastSchema,
    PolicyPatchSchema,
    PolicySchema,
    PolicyWriteQuerySchema,
    ProofResultSchema,
    ProofSchema,
)
from shared.errors import Conflict, Invalid
from shared.http import roles_required
from shared.http.audit import record_change
from shared.http.context import clock, service_context, unit_of_work, units_of_work
from shared.http.merge_patch import MERGE_PATCH_TYPE
from shared.http.openapi import alt_problem

policy_blp = Blueprint("policy", __name__, description="The contact policy of the dispatch gate")
decisions_blp = Blueprint("decisions", __name__, description="Why a contact did or did not get a message")
deliveries_blp = Blueprint("deliveries", __name__, description="Send jobs, retries and dead letters")


@policy_blp.route("/policy")
class Policy(MethodView):
    """The rules every outbound message is checked against."""

    @roles_required("operator", "marketer")
    @policy_blp.response(200, PolicySchema)
    def get(self):
        """The current rules (the shipped defaults until an operator changes them)."""
        with unit_of_work() as uow:
            return policy.current_policy(uow)

    @roles_required("operator")
    @policy_blp.arguments(PolicyWriteQuerySchema, location="query")
    @policy_blp.arguments(PolicySchema)
    @policy_blp.response(200, PolicySchema)
    def put(self, query, body):
        """Replace the whole rule set (every field required); the gate uses it from its next batch on."""
        rules = _checked_rules(body, query["allow_empty"])
        with unit_of_work() as uow:
            before = policy.current_policy(uow)
            after = policy.replace_policy(uow, rules)
            record_change(uow, "policy.replace", "policy", "policy", before=before, after=after)
            return after

    @roles_required("operator")
    @policy_blp.arguments(PolicyWriteQuerySchema, location="query")
    @policy_blp.arguments(PolicyPatchSchema, content_type=MERGE_PATCH_TYPE)
    @policy_blp.response(200, PolicySchema)
    def patch(self, query, patch):
        """Change part of the rule set (a JSON merge patch, RFC 7396, as application/merge-patch+json or
        application/json): members present replace, `null` removes (allowed for min_marketing_gap_seconds)."""

        def validated(merged: dict[str, Any]) -> PolicyRules:
            try:
                document = PolicySchema().load(merged)
            except ValidationError as exc:
                raise Invalid("the patched rule set is incomplete or invalid", exc.normalized_messages()) from exc
            return _checked_rules(document, query["allow_empty"])

        with unit_of_work() as uow:
            before = policy.current_policy(uow)
            after = policy.patch_policy(uow, patch, validated)
            record_change(uow, "policy.patch", "policy", "policy", before=before, after=after)
            return after


def _checked_rules(document: dict, allow_empty: bool) -> PolicyRules:
    """The `PolicyRules` of a validated document; 422 when inconsistent, or empty without `allow_empty`."""
    try:
        rules = from_document(document)
    except ValueError as exc:
        field = "capacity" if str(exc).startswith("capacity") else "caps"
        raise Invalid(str(exc), {field: [str(exc)]}, title="Invalid policy") from exc
    if sets_no_rule(rules) and not allow_empty:
        # a body that lost its content on the way (a wrong client, a form post) must not open the gate
        message = ("the rule set has no cap, gap, quiet hours, opt-in channel or capacity rule; "
                   "pass ?allow_empty=true to mean it")
        raise Invalid(message, {"allow_empty": [message]}, title="Empty policy refused")
    return rules


@decisions_blp.route("/decisions")
class Decisions(MethodView):
    """The decision record."""

    @roles_required("operator", "marketer", "agent")
    @decisions_blp.arguments(DecisionQuerySchema, location="query")
    @decisions_blp.response(200, DecisionSchema(many=True))
    def get(self, query):
        """Decisions by contact, request or campaign, newest first, with the delivery state of sends."""
        with units_of_work().read() as uow:
            return policy.find_decisions(uow, query)


@decisions_blp.route("/dry-run")
class DryRun(MethodView):
    """Ask the gate without reserving anything."""

    @roles_required("operator", "marketer", "agent")
    @decisions_blp.arguments(DryRunSchema)
    @decisions_blp.response(200, DryRunResultSchema)
    def post(self, body):
        """What the gate would decide for this message now (or at `at`); nothing is written."""
        at = (body.get("at") or clock().now()).astimezone(UTC)
        with units_of_work().read() as uow:  # a dry run never writes, not even the seeded defaults
            return policy.dry_run(uow, body, at)


@decisions_blp.route("/forecast")
class Forecast(MethodView):
    """Ask the gate about one message for many contacts, counted, without reserving anything."""

    @roles_required("operator", "marketer")
    @decisions_blp.arguments(ForecastSchema)
    @decisions_blp.response(200, ForecastResultSchema)
    def post(self, body):
        """How many of `contacts` the gate would send, defer, suppress, cap or expire `message` for now (or at
        `at`), and by which rule. Read-only and lock-free: a snapshot, never a reservation."""
        at = (body.get("at") or clock().now()).astimezone(UTC)
        with units_of_work().read() as uow:
            return forecasts.forecast(uow, body["message"], body["contacts"], at, body["capacity_taken"])


@deliveries_blp.route("/proofs")
class Proofs(MethodView):
    """Proof sends to seed addresses, outside the contact policy."""

    @roles_required("marketer")
    @deliveries_blp.arguments(ProofSchema)
    @deliveries_blp.response(200, ProofResultSchema)
    @alt_problem(deliveries_blp, 409, "the channel has no adapter in this deployment")
    def post(self, body):
        """Send the rendered message, marked as a proof (`[PROOF] ` before the subject or the text, header
        `X-Touchpoint-Proof: 1` on email), to each seed address now; nothing of a contact's record is
        read or written (no gate, ledger, cap, capacity or report). One result per address."""
        settings = service_context().settings
        config = parse_config(settings.extra.get("adapters"))
        if body["channel"] not in config:
            raise Conflict(f"channel {body['channel']!r} has no adapter in this deployment",
                           {"channel": ["no adapter configured"]})
        context = AdapterContext(settings, service_context().engine, clock().now)
        adapter = build_adapters({body["channel"]: config[body["channel"]]}, context)[body["channel"]]
        try:
            deliveries = deliver_proofs(adapter, body, body["recipients"])
        finally:
            adapter.close()
        with unit_of_work() as uow:  # nothing of a contact changed, but who sent what to which address is on record
            record_change(uow, "proof.send", "proof", body["proof_id"], after={
                "channel": body["channel"], "campaign_id": body["campaign_id"], "step_id": body["step_id"],
                "deliveries": [{"to": d["to"], "status": d["status"]} for d in deliveries]})
        return {"proof_id": body["proof_id"], "channel": body["channel"], "deliveries": deliveries}


@deliveries_blp.route("/deliveries")
class Deliveries(MethodView):
    """Send jobs."""

    @roles_required("operator")
    @deliveries_blp.arguments(DeliveryQuerySchema, location="query")
    @deliveries_blp.response(200, DeliverySchema(many=True))
    def get(self, query):
        """Send jobs by state (`dead`: retries exhausted), channel or contact, newest first."""
        with units_of_work().read() as uow:
            return policy.find_deliveries(uow, query)


def blueprints() -> list[Blueprint]:
    """Blueprints of this module."""
    return [policy_blp, decisions_blp, deliveries_blp]
