"""HTTP layer of the channels service: policy rules, decisions, dry runs, deliveries.

Agents' and the website's endpoints are in `agents.py`, provider webhooks in `webhooks.py`.
"""

from __future__ import annotations

from datetime import UTC

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import ValidationError
from sqlalchemy import select

from services.channels.contact_state import load_states
from services.channels.domain import PolicyRules, decide
from services.channels.gate import OUTCOME_WORDS, horizon, outbound
from services.channels.repository import contact_policy, decisions, deliveries
from services.channels.rules import (
    from_document,
    load_rules,
    lock_document,
    save_rules,
    sets_no_rule,
    to_document,
)
from services.channels.schemas import (
    DecisionQuerySchema,
    DecisionSchema,
    DeliveryQuerySchema,
    DeliverySchema,
    DryRunResultSchema,
    DryRunSchema,
    PolicyPatchSchema,
    PolicySchema,
    PolicyWriteQuerySchema,
)
from shared.http import Problem, roles_required
from shared.http.app import ServiceContext
from shared.http.merge_patch import MERGE_PATCH_TYPE, merge_patch

policy_blp = Blueprint("policy", __name__, description="The contact policy of the dispatch gate")
decisions_blp = Blueprint("decisions", __name__, description="Why a contact did or did not get a message")
deliveries_blp = Blueprint("deliveries", __name__, description="Send jobs, retries and dead letters")


def context() -> ServiceContext:
    """The service context of the running app."""
    return current_app.extensions["touchpoint"]


@policy_blp.route("/policy")
class Policy(MethodView):
    """The rules every outbound message is checked against."""

    @roles_required("operator", "marketer")
    @policy_blp.response(200, PolicySchema)
    def get(self):
        """The current rules (the shipped defaults until an operator changes them)."""
        with context().engine.begin() as conn:
            rules, version = load_rules(conn)
        return {**to_document(rules), "version": version}

    @roles_required("operator")
    @policy_blp.arguments(PolicyWriteQuerySchema, location="query")
    @policy_blp.arguments(PolicySchema)
    @policy_blp.response(200, PolicySchema)
    def put(self, query, body):
        """Replace the whole rule set (every field required); the gate uses it from its next batch on."""
        rules = _checked_rules(body, query["allow_empty"])
        with context().engine.begin() as conn:
            version = save_rules(conn, rules)
        return {**to_document(rules), "version": version}

    @roles_required("operator")
    @policy_blp.arguments(PolicyWriteQuerySchema, location="query")
    @policy_blp.arguments(PolicyPatchSchema, content_type=MERGE_PATCH_TYPE)
    @policy_blp.response(200, PolicySchema)
    def patch(self, query, patch):
        """Change part of the rule set (a JSON merge patch, RFC 7396, as application/merge-patch+json or
        application/json): members present replace, `null` removes (allowed for min_marketing_gap_seconds)."""
        with context().engine.begin() as conn:
            current, _ = lock_document(conn)  # held until commit: concurrent patches apply one after the other
            merged = merge_patch(current, patch)
            if "min_marketing_gap_seconds" in patch and patch["min_marketing_gap_seconds"] is None:
                merged["min_marketing_gap_seconds"] = None  # the document's way of saying "no gap"
            try:
                document = PolicySchema().load(merged)
            except ValidationError as exc:
                raise Problem(422, "Validation failed", "the patched rule set is incomplete or invalid",
                              errors=exc.normalized_messages(), kind="validation") from exc
            rules = _checked_rules(document, query["allow_empty"])
            version = save_rules(conn, rules)
        return {**to_document(rules), "version": version}


def _checked_rules(document: dict, allow_empty: bool) -> PolicyRules:
    """The `PolicyRules` of a validated document; 422 when inconsistent, or empty without `allow_empty`."""
    try:
        rules = from_document(document)
    except ValueError as exc:
        raise Problem(422, "Invalid policy", str(exc), errors={"caps": [str(exc)]}, kind="validation") from exc
    if sets_no_rule(rules) and not allow_empty:
        # a body that lost its content on the way (a wrong client, a form post) must not open the gate
        message = "the rule set has no cap, gap, quiet hours or opt-in channel; pass ?allow_empty=true to mean it"
        raise Problem(422, "Empty policy refused", message, errors={"allow_empty": [message]}, kind="validation")
    return rules


@decisions_blp.route("/decisions")
class Decisions(MethodView):
    """The decision record."""

    @roles_required("operator", "marketer", "agent")
    @decisions_blp.arguments(DecisionQuerySchema, location="query")
    @decisions_blp.response(200, DecisionSchema(many=True))
    def get(self, query):
        """Decisions by contact, request or campaign, newest first, with the delivery state of sends."""
        stmt = select(decisions, deliveries.c.state.label("d_state"), deliveries.c.attempts,
                      deliveries.c.provider_id, deliveries.c.detail.label("d_detail"),
                      deliveries.c.updated_at.label("d_updated_at")).outerjoin(
            deliveries, (deliveries.c.request_id == decisions.c.request_id) & (decisions.c.outcome == "send"))
        for name in ("contact_id", "request_id", "campaign_id"):
            if query.get(name):
                stmt = stmt.where(decisions.c[name] == query[name])
        stmt = stmt.order_by(decisions.c.decided_at.desc(), decisions.c.id.desc()).limit(query["limit"])
        with context().engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [{**row._mapping, "delivery": None if row.d_state is None else {
            "state": row.d_state, "attempts": row.attempts, "provider_id": row.provider_id,
            "detail": row.d_detail, "updated_at": row.d_updated_at}} for row in rows]


@decisions_blp.route("/dry-run")
class DryRun(MethodView):
    """Ask the gate without reserving anything."""

    @roles_required("operator", "marketer", "agent")
    @decisions_blp.arguments(DryRunSchema)
    @decisions_blp.response(200, DryRunResultSchema)
    def post(self, body):
        """What the gate would decide for this message now (or at `at`); nothing is written."""
        ctx = context()
        at = (body.get("at") or ctx.extra["clock"]()).astimezone(UTC)
        with ctx.engine.connect() as conn:
            rules, _ = load_rules(conn)
            profile = conn.execute(select(contact_policy)
                                   .where(contact_policy.c.contact_id == body["contact_id"])).first()
            state = load_states(conn, {body["contact_id"]: profile}, at - horizon(rules))[body["contact_id"]]
            conn.rollback()  # a dry run never writes, not even the seeded defaults
        decision = decide(outbound(body), state, rules, at)
        return {"outcome": OUTCOME_WORDS[decision.outcome], "reason": decision.reason, "rule_id": decision.rule_id,
                "detail": decision.detail, "defer_until": decision.defer_until, "evaluated_at": at}


@deliveries_blp.route("/deliveries")
class Deliveries(MethodView):
    """Send jobs."""

    @roles_required("operator")
    @deliveries_blp.arguments(DeliveryQuerySchema, location="query")
    @deliveries_blp.response(200, DeliverySchema(many=True))
    def get(self, query):
        """Send jobs by state (`dead`: retries exhausted), channel or contact, newest first."""
        stmt = select(deliveries)
        for name in ("state", "channel", "contact_id"):
            if query.get(name):
                stmt = stmt.where(deliveries.c[name] == query[name])
        with context().engine.connect() as conn:
            return conn.execute(stmt.order_by(deliveries.c.id.desc()).limit(query["limit"])).mappings().all()


def blueprints() -> list[Blueprint]:
    """The service's blueprints."""
    from services.channels.agents import blueprints as agent_blueprints
    from services.channels.webhooks import blp as webhooks_blp

    return [policy_blp, decisions_blp, deliveries_blp, *agent_blueprints(), webhooks_blp]
