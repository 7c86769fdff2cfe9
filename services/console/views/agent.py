"""Call-center agents: the open tasks by priority with their scripts; claim, then complete with an outcome."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from services.console.auth import client, roles_required

bp = Blueprint("agent", __name__, url_prefix="/agent")

OUTCOMES = ("reached_interested", "reached_not_interested", "callback_requested", "no_answer", "wrong_number",
            "voicemail")
OUTCOME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
PAGE = 20


def _filters() -> dict[str, Any]:
    args = request.args
    return {"contact_id": args.get("contact_id") or None, "campaign_id": args.get("campaign_id") or None}


@bp.route("/tasks")
@roles_required("agent")
def tasks() -> str:
    """Open tasks (highest priority first) and the tasks I claimed; the page reloads itself."""
    api = client()
    filters = _filters()
    page = api.page("channels", "/tasks", status="open", limit=PAGE, cursor=request.args.get("cursor"), **filters)
    mine = api.page("channels", "/tasks", status="claimed", mine="true", limit=100, **filters)
    shown = {k: v for k, v in filters.items() if v}
    next_url = url_for("agent.tasks", cursor=page.next_cursor, **shown) if page.next_cursor else None
    return render_template("agent/tasks.html", open_tasks=page.items, next_url=next_url,
                           mine=mine.items, filters=filters, outcomes=OUTCOMES)


@bp.route("/tasks/<int:task_id>/claim", methods=["POST"])
@roles_required("agent")
def claim(task_id: int):
    """Take a task; if another agent was quicker, the service's answer says so."""
    client().post("channels", f"/tasks/{task_id}/claim")
    flash(f"Task {task_id} is yours: call now, then record the outcome.", "ok")
    return redirect(url_for("agent.tasks") + f"#task-{task_id}")


@bp.route("/tasks/<int:task_id>/complete", methods=["POST"])
@roles_required("agent")
def complete(task_id: int):
    """Record how the call went."""
    outcome = (request.form.get("outcome") or "").strip()
    if not OUTCOME.match(outcome):
        abort(422, "Choose an outcome (lowercase words joined by _).")
    notes = (request.form.get("notes") or "").strip() or None
    client().post("channels", f"/tasks/{task_id}/complete", {"outcome": outcome, "notes": notes})
    flash(f"Task {task_id} completed: {outcome.replace('_', ' ')}.", "ok")
    return redirect(url_for("agent.tasks"))
