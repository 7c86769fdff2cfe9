"""Marketers: campaigns with their lifecycle, the journey graph with its funnel, segments and the policy."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from services.console import journey, policy_form
from services.console.auth import client, may, roles_required
from services.console.client import ServiceError
from shared.control_group import describe

bp = Blueprint("marketer", __name__)

ACTIONS = {"draft": ("activate",), "active": ("pause", "archive"), "paused": ("resume", "archive"), "archived": ()}
CATEGORIES = ("marketing", "service", "transactional")


@bp.route("/campaigns")
@roles_required("marketer")
def campaigns() -> str:
    """Every campaign with its status and the lifecycle actions it allows."""
    status = request.args.get("status") or None
    items = client().get("campaigns", "/campaigns", status=status, limit=200)
    return render_template("marketer/campaigns.html", campaigns=items, actions=ACTIONS, status=status)


@bp.route("/campaigns/<string:campaign_id>")
@roles_required("marketer")
def campaign(campaign_id: str) -> str:
    """The journey as a graph with per-step counts, the funnel, A/B variants side by side, broadcasts."""
    api = client()
    found = api.get("campaigns", f"/campaigns/{campaign_id}")
    report = api.get("campaigns", f"/campaigns/{campaign_id}/report")
    definition = found.get("definition") or {}
    variants = _variants(definition, report)
    return render_template("marketer/campaign.html", campaign=found, report=report, definition=definition,
                           graph=journey.draw(definition, report), funnel=journey.funnel_rows(definition, report),
                           variants=variants, lift=describe(report.get("control_group")),
                           actions=ACTIONS.get(found.get("status"), ()),
                           definition_json=json.dumps(definition, indent=2))


def _variants(definition: dict[str, Any], report: dict[str, Any]) -> list[dict[str, Any]]:
    counted = report.get("variants", {})
    found = []
    for step in definition.get("steps", []):
        if step.get("type") == "split":
            for variant in step.get("variants", []):
                numbers = counted.get(variant.get("name"), {})
                enrolled = int(numbers.get("enrolled", 0))
                converted = int(numbers.get("converted", 0))
                found.append({"step": step["id"], "name": variant.get("name"), "weight": variant.get("weight"),
                              "next": variant.get("next"), "enrolled": enrolled, "converted": converted,
                              "requested": int(numbers.get("requested", 0)), "sent": int(numbers.get("sent", 0)),
                              "rate": f"{100 * converted / enrolled:.1f} %" if enrolled else "—",
                              "lift": describe(numbers.get("control_group"))})
    return found


@bp.route("/campaigns/<string:campaign_id>/<any(activate, pause, resume, archive):action>", methods=["POST"])
@roles_required("marketer")
def lifecycle(campaign_id: str, action: str):
    """Move a campaign along draft → active → paused → archived."""
    moved = client().post("campaigns", f"/campaigns/{campaign_id}/{action}")
    flash(f"{moved.get('name')} is {moved.get('status')}.", "ok")
    return redirect(request.form.get("back") if request.form.get("back", "").startswith("/")
                    else url_for("marketer.campaign", campaign_id=campaign_id))


@bp.route("/segments")
@roles_required("marketer")
def segments() -> str:
    """Segments with how many contacts each holds now."""
    api = client()
    listed = api.get("contacts", "/segments", limit=100)
    items = listed.get("items", []) if isinstance(listed, dict) else listed
    for segment in items:
        try:
            segment["count"] = api.get("contacts", f"/segments/{segment['id']}/count").get("count")
        except ServiceError as exc:  # one bad segment must not hide the others; its problem is shown in place
            segment["count_error"] = exc.detail or exc.title
    return render_template("marketer/segments.html", segments=items)


@bp.route("/policy", methods=["GET", "POST"])
@roles_required("marketer")
def policy() -> Any:
    """The gate's policy, readable; operators edit it in a form; everyone here may dry-run a message."""
    api = client()
    form, problem, dry, status = None, None, None, 200
    if request.method == "POST" and request.form.get("form") == "policy":
        if not may("operator"):
            abort(403)
        document, form = policy_form.parse(request.form)
        if form.errors:
            problem, status = {"title": "Check the highlighted fields", "detail": "Nothing was saved.",
                               "errors": {}}, 422
        else:
            stored = api.get("channels", "/policy")
            if form.version and str(stored.get("version")) != form.version:
                # Another operator saved since this form was shown: say so instead of silently undoing
                # their change. The form now carries their version: saving again replaces theirs with this.
                problem = {"title": "The policy changed while you edited it",
                           "detail": f"someone saved version {stored.get('version')} after you opened version "
                                     f"{form.version}. Nothing was saved; compare with the rules above, then "
                                     "save again to replace theirs with yours.", "errors": {}}
                form.version, status = str(stored.get("version")), 409
        if problem is None:
            try:
                # PUT requires every member: a form without capacity rows (a page from before it had them)
                # sends the stored rules back unchanged.
                document.setdefault("capacity", stored.get("capacity", []))
                api.call("PUT", "channels", "/policy", json=document,
                         params={"allow_empty": "true"} if form.allow_empty else None)
            except ServiceError as exc:
                if exc.status in (401, 403) or exc.status >= 500:
                    raise
                # the service's own words, with the form as it was sent so nothing typed is lost
                problem = {"title": exc.title, "detail": exc.detail,
                           "errors": policy_form.service_errors(form, exc.errors)}
                status = exc.status
            else:
                flash("Policy saved: the gate uses it from its next batch on.", "ok")
                return redirect(url_for("marketer.policy"))
        form = policy_form.with_blank_rows(form)
    if request.method == "POST" and request.form.get("form") == "dry-run":
        dry, status = _dry_run(api)
    current = api.get("channels", "/policy")
    if form is None and may("operator"):
        form = policy_form.form_state(current)
    shown = {k: v for k, v in current.items() if k != "version"}
    return render_template("marketer/policy.html", policy=current, policy_json=json.dumps(shown, indent=2),
                           form=form, problem=problem, dry=dry, categories=CATEGORIES, units=policy_form.UNITS,
                           scopes=policy_form.SCOPES, weekdays=policy_form.WEEKDAYS,
                           capacity_windows=policy_form.CAPACITY_WINDOWS, when_full=policy_form.WHEN_FULL), status


def _dry_run(api) -> tuple[dict[str, Any], int]:
    """Ask the gate what it would decide now; a refusal is shown in place, with the form as sent."""
    body: dict[str, Any] = {k: (request.form.get(k) or "").strip() or None
                            for k in ("contact_id", "channel", "category", "campaign_id", "topic")}
    priority = (request.form.get("priority") or "0").strip()
    if not priority.isdigit() or int(priority) > 100:
        return {"request": body, "problem": {"title": "Check the priority", "detail": "a whole number from 0 to 100",
                                             "errors": {}}}, 422
    body["priority"] = int(priority)
    try:
        return {"request": body, "answer": api.post("channels", "/dry-run", body)}, 200
    except ServiceError as exc:
        if exc.status in (401, 403) or exc.status >= 500:
            raise
        return {"request": body, "problem": {"title": exc.title, "detail": exc.detail,
                                             "errors": policy_form.flatten(exc.errors)}}, exc.status
