"""The campaign report: enrollments, each step's requests and outcomes, and A/B variants, counted."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, func, select

from services.campaigns.repository import broadcast_runs, enrollments, send_outcomes, step_sends

# Outcomes counted per step; refusals are also broken down by reason (suppressed) or rule (capped).
STEP_COUNTS = ("requested", "sent", "deferred", "suppressed", "capped", "expired", "failed", "delivered",
               "bounced", "opened", "clicked", "answered")
ENROLLMENT_STATUSES = ("active", "completed", "converted", "exited")


def _step_entry() -> dict[str, Any]:
    return {**dict.fromkeys(STEP_COUNTS, 0), "converted": 0, "suppressed_by_reason": {}, "capped_by_rule": {}}


def campaign_report(conn: Connection, campaign_id: str) -> dict[str, Any]:
    """Counts of one campaign, computed with a few GROUP BY queries."""
    by_status = dict.fromkeys(ENROLLMENT_STATUSES, 0)
    variants: dict[str, dict[str, int]] = defaultdict(lambda: {"enrolled": 0, "converted": 0, "requested": 0,
                                                               "sent": 0})
    for status, variant, count in conn.execute(
            select(enrollments.c.status, enrollments.c.variant, func.count())
            .where(enrollments.c.campaign_id == campaign_id)
            .group_by(enrollments.c.status, enrollments.c.variant)):
        by_status[status] = by_status.get(status, 0) + count
        if variant is not None:
            variants[variant]["enrolled"] += count
            if status == "converted":
                variants[variant]["converted"] += count
    steps: dict[str, dict[str, Any]] = defaultdict(_step_entry)
    for step_id, variant, count in conn.execute(
            select(step_sends.c.step_id, step_sends.c.variant, func.count())
            .where(step_sends.c.campaign_id == campaign_id)
            .group_by(step_sends.c.step_id, step_sends.c.variant)):
        entry = steps[step_id]
        entry["requested"] += count
        if variant is not None:
            variants[variant]["requested"] += count
    for step_id, variant, outcome, reason, rule_id, count in conn.execute(
            select(step_sends.c.step_id, step_sends.c.variant, send_outcomes.c.outcome, send_outcomes.c.reason,
                   send_outcomes.c.rule_id, func.count())
            .join(send_outcomes, send_outcomes.c.request_id == step_sends.c.request_id)
            .where(step_sends.c.campaign_id == campaign_id)
            .group_by(step_sends.c.step_id, step_sends.c.variant, send_outcomes.c.outcome, send_outcomes.c.reason,
                      send_outcomes.c.rule_id)):
        entry = steps[step_id]
        if outcome in entry:
            entry[outcome] += count
        if outcome == "suppressed":
            key = reason or "unknown"
            entry["suppressed_by_reason"][key] = entry["suppressed_by_reason"].get(key, 0) + count
        elif outcome == "capped":
            key = rule_id or reason or "unknown"
            entry["capped_by_rule"][key] = entry["capped_by_rule"].get(key, 0) + count
        if outcome == "sent" and variant is not None:
            variants[variant]["sent"] += count
    for step_id, count in conn.execute(
            select(step_sends.c.step_id, func.count())
            .where(step_sends.c.campaign_id == campaign_id, step_sends.c.status == "failed",
                   step_sends.c.reason.like("template:%"))
            .group_by(step_sends.c.step_id)):
        steps[step_id]["failed"] += count  # failed before a request: the template did not render
        steps[step_id]["requested"] -= count
    # Converted after this step: enrollments that reached the step and then met a goal.
    for step_id, count in conn.execute(
            select(step_sends.c.step_id, func.count(func.distinct(enrollments.c.enrollment_id)))
            .join(enrollments, enrollments.c.enrollment_id == step_sends.c.enrollment_id)
            .where(step_sends.c.campaign_id == campaign_id, enrollments.c.status == "converted")
            .group_by(step_sends.c.step_id)):
        steps[step_id]["converted"] = count
    runs = [dict(r) for r in conn.execute(
        select(broadcast_runs.c.occurrence, broadcast_runs.c.version, broadcast_runs.c.pages, broadcast_runs.c.enrolled,
               broadcast_runs.c.started_at, broadcast_runs.c.finished_at)
        .where(broadcast_runs.c.campaign_id == campaign_id).order_by(broadcast_runs.c.started_at)).mappings()]
    for run in runs:
        for key in ("started_at", "finished_at"):
            run[key] = run[key].isoformat() if run[key] else None
    return {"campaign_id": campaign_id,
            "enrollments": {**by_status, "enrolled": sum(by_status.values())},
            "steps": dict(steps), "variants": dict(variants), "broadcasts": runs}
