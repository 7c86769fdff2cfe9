"""Plain-text rendering of service answers (pure: strings in, strings out)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from shared.control_group import describe

REPORT_COLUMNS = ("requested", "sent", "deferred", "suppressed", "capped", "failed", "delivered", "opened",
                  "clicked", "converted")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, separators=(",", ":"))
    return str(value)


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str], max_width: int = 60) -> str:
    """A left-aligned text table; long cells are cut at `max_width` with an ellipsis."""
    cells = [[_cell(v) for v in row] for row in rows]
    cells = [[c if len(c) <= max_width else c[:max_width - 1] + "…" for c in row] for row in cells]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def dumps(body: Any) -> str:
    """Indented JSON."""
    return json.dumps(body, indent=2, default=str, ensure_ascii=False)


def campaign_report(report: dict) -> str:
    """Enrollment totals, a per-step table of outcome counts, the control-group comparison, variants (each
    against the control group), broadcasts and the reasons."""
    enrollments = report.get("enrollments") or {}
    out = [f"campaign {report.get('campaign_id', '?')}",
           "enrollments: " + ", ".join(f"{k} {v}" for k, v in enrollments.items())]
    steps = report.get("steps") or {}
    if steps:
        out += ["", table([[sid] + [counts.get(c, 0) for c in REPORT_COLUMNS] for sid, counts in steps.items()],
                          ("step", *REPORT_COLUMNS))]
        for sid, counts in steps.items():
            for key, label in (("suppressed_by_reason", "suppressed"), ("capped_by_rule", "capped")):
                if counts.get(key):
                    out.append(f"  {sid} {label}: " + ", ".join(f"{k} {v}" for k, v in counts[key].items()))
    else:
        out += ["", "no step activity yet"]
    if report.get("control_group"):
        out += ["", "control group: " + describe(report["control_group"])]
    variants = report.get("variants") or {}
    if variants:
        names = sorted({k for v in variants.values() for k in v} - {"control_group"})
        out += ["", table([[name] + [v.get(k, 0) for k in names] for name, v in variants.items()],
                          ("variant", *names))]
        out += [f"  {name} vs control: {describe(v['control_group'])}"
                for name, v in variants.items() if v.get("control_group")]
    broadcasts = report.get("broadcasts") or []
    if broadcasts:
        out += ["", table([[b.get("occurrence"), b.get("version"), b.get("pages"), b.get("enrolled"),
                            b.get("started_at"), b.get("finished_at") or "running"] for b in broadcasts],
                          ("broadcast", "version", "pages", "enrolled", "started", "finished"))]
    return "\n".join(out)


def import_report(job: dict, rejections: Sequence[dict] = ()) -> str:
    """The outcome of an import job and its first rejected rows."""
    lines = [f"import {job.get('id')}: {job.get('status')}",
             f"  rows {job.get('rows_processed', 0)}: created {job.get('created', 0)}, "
             f"updated {job.get('updated', 0)}, rejected {job.get('rejected', 0)}"]
    if job.get("error"):
        lines.append(f"  error: {job['error']}")
    if rejections:
        lines.append("  first rejections:")
        lines += [f"    row {r.get('row')}: {r.get('reason')}" for r in rejections]
        if (job.get("rejected") or 0) > len(rejections):
            lines.append(f"    … {job['rejected'] - len(rejections)} more (GET /imports/{job.get('id')}/rejections)")
    return "\n".join(lines)


def timeline(items: Sequence[dict]) -> str:
    """A contact's timeline, newest first."""
    if not items:
        return "nothing on the timeline"
    return table([[i.get("occurred_at"), i.get("kind"), i.get("type"), i.get("data")] for i in items],
                 ("when", "kind", "type", "data"), max_width=80)


def audit(items: Sequence[dict]) -> str:
    """Audit records: when, who, what, and the changed fields."""
    if not items:
        return "no audit records"
    rows = []
    for r in items:
        actor = r.get("actor") or {}
        who = f"{actor.get('name')} ({actor.get('role')})" if actor else "-"
        details = r.get("details") or {}
        changed = sorted({k for side in ("before", "after") if isinstance(details.get(side), dict)
                          for k in details[side]}) or details.get("changed") or []
        rows.append([r.get("at"), who, r.get("action"), f"{r.get('entity_type')} {r.get('entity_id')}",
                     ", ".join(changed)])
    return table(rows, ("when", "who", "action", "entity", "changed"))


def decisions(items: Sequence[dict]) -> str:
    """The gate's decisions: what was decided and why."""
    if not items:
        return "no decisions for this contact"
    rows = []
    for d in items:
        delivery = d.get("delivery")
        state = delivery.get("state") if isinstance(delivery, dict) else delivery
        # a look-ahead decision names the planned message it gave its cap slot to
        rule = d.get("rule_id") if not d.get("yielded_to") else f"{d.get('rule_id')} (yields to {d['yielded_to']})"
        rows.append([d.get("decided_at") or d.get("created_at"), d.get("channel"), d.get("category"),
                     d.get("outcome"), d.get("reason"), rule, state, d.get("campaign_id")])
    return table(rows, ("when", "channel", "category", "outcome", "reason", "rule", "delivery", "campaign"))


def campaigns(items: Sequence[dict]) -> str:
    """The campaign list."""
    if not items:
        return "no campaigns"
    return table([[c.get("campaign_id"), c.get("status"), c.get("version"), c.get("name")] for c in items],
                 ("id", "status", "version", "name"))


def forecast(body: dict) -> str:
    """A campaign forecast: the step forecast, counts per outcome, and the table per (outcome, reason, rule)."""
    step = body.get("step") or {}
    lines = [f"campaign {body.get('campaign_id')}: {body.get('members', 0)} members of segment "
             f"{body.get('segment_id')}, step {step.get('step_id')} ({step.get('channel')}, {step.get('category')}, "
             f"priority {step.get('priority')}) as the gate would decide at {body.get('evaluated_at')} "
             f"({body.get('elapsed_ms')} ms)",
             _forecast_counts(body, "no members")]
    return "\n".join(lines)


def gate_forecast(body: dict) -> str:
    """The channels forecast of one message: counts per outcome and the table per (outcome, reason, rule)."""
    return "\n".join([f"{body.get('evaluated', 0)} contacts as the gate would decide at {body.get('evaluated_at')}",
                      _forecast_counts(body, "no contacts")]
                     + ([f"capacity taken: {_cell(body['capacity_taken'])}"] if body.get("capacity_taken") else []))


def _forecast_counts(body: dict, empty: str) -> str:
    """The part both forecasts share: the counts per outcome, a blank line, the table per rule."""
    rows = [[r.get("outcome"), r.get("reason"), r.get("rule_id"), r.get("count")] for r in body.get("by_rule") or []]
    return "\n".join([", ".join(f"{outcome} {count}" for outcome, count in (body.get("by_outcome") or {}).items()),
                      "", table(rows, ("outcome", "reason", "rule", "count")) if rows else empty])


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "none"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _windows(windows: Sequence[dict]) -> str:
    return "; ".join(f"{','.join(WEEKDAYS[d] for d in sorted(w.get('weekdays') or []))} "
                     f"{w.get('start')}-{w.get('end')}" for w in windows) or "never (no window)"


def policy(body: dict) -> str:
    """The gate's contact policy for people: caps, gap, quiet hours, opt-in, control group, capacity."""
    caps = [[c.get("id"), c.get("limit"), _duration(c.get("window_seconds")), c.get("scope"), c.get("scope_value")]
            for c in body.get("caps") or []]
    capacity = [[r.get("id"), r.get("channel"), r.get("category") or "service+marketing", r.get("limit"),
                 r.get("window"), r.get("time_zone"), r.get("when_full")] for r in body.get("capacity") or []]
    group = body.get("control_group")
    lines = [f"policy version {body.get('version')}", "",
             "caps:" if caps else "caps: none"]
    if caps:
        lines.append(table(caps, ("id", "limit", "window", "scope", "value")))
    lines += [f"marketing gap: {_duration(body.get('min_marketing_gap_seconds'))}",
              "quiet hours (send windows): " + (", ".join(
                  f"{channel} {_windows(windows)}" for channel, windows in sorted((body.get("quiet_hours") or {}).items()))
                  or "none"),
              "opt-in channels: " + (", ".join(body.get("opt_in_channels") or []) or "none"),
              "control group: " + (f"{group.get('percent'):g} % of contacts (salt {group.get('salt')!r})"
                                   if group else "off"),
              "capacity:" if capacity else "capacity: none"]
    if capacity:
        lines.append(table(capacity, ("id", "channel", "category", "limit", "window", "time zone", "when full")))
    return "\n".join(lines)


def proof(body: dict) -> str:
    """A proof send: per step and seed address what was sent, or why a step was not."""
    rows = []
    for step in body.get("steps") or []:
        for d in step.get("deliveries") or []:
            rows.append([step.get("step_id"), step.get("channel"), d.get("to"), d.get("status"), d.get("detail")])
        if step.get("skipped"):
            rows.append([step.get("step_id"), step.get("channel"), "-", "not sent", step.get("skipped")])
    rendered_for = body.get("contact_id") or "the sample contact"
    head = f"proof {body.get('proof_id')} of campaign {body.get('campaign_id')}, rendered for {rendered_for}"
    return head + "\n" + (table(rows, ("step", "channel", "to", "status", "detail")) if rows else "no send steps")


def event_results(body: dict) -> str:
    """What became of posted events."""
    lines = [f"accepted {body.get('accepted', 0)}, duplicate {body.get('duplicate', 0)}, "
             f"rejected {body.get('rejected', 0)}"]
    for r in body.get("results") or []:
        if r.get("status") == "rejected":
            lines.append(f"  rejected: {_cell(r.get('reason'))}")
    return "\n".join(lines)
