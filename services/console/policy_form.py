"""The gate policy as an HTML form and back (pure: no Flask, no HTTP).

`form_state(policy)` turns the document `GET /policy` answers into the values the form shows (caps
rows, the marketing gap, quiet-hour rows, opt-in channels, the control group, capacity rows), with a
few blank rows to add to. `parse(form)` reads a posted form into the document `PUT /policy` takes (every field, so
nothing the form does not show is reset by accident: the form shows every field there is), plus the
form's own errors keyed by input name and the submitted values to show again. The service still
validates everything; `service_errors` puts its field errors back beside the inputs they name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

UNITS = (("minutes", 60), ("hours", 3600), ("days", 86_400), ("seconds", 1))
UNIT_SECONDS = dict(UNITS)
SCOPES = ("all", "channel", "category", "campaign")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
CAPACITY_WINDOWS = ("hour", "day", "week")
WHEN_FULL = ("defer", "expire")
CAPACITY_CATEGORIES = ("", "service", "marketing")  # "": both (transactional never counts)
KNOWN_CHANNELS = ("email", "sms", "call", "web")
BLANK_ROWS = 2
MAX_ROWS = 100
CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
CAP_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class FormData(Protocol):
    """What the parser needs of a posted form (werkzeug's MultiDict has it)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def getlist(self, key: str) -> list[str]: ...


@dataclass
class PolicyForm:
    """The values the form shows, and the errors beside them (input name -> messages)."""

    caps: list[dict[str, Any]]
    gap_value: str
    gap_unit: str
    quiet: list[dict[str, Any]]
    channels: list[str]
    opt_in: set[str]
    cg_percent: str
    cg_salt: str
    allow_empty: bool = False
    version: str = ""  # the version the person started from, to notice another operator's save
    capacity: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)
    # the document row each cap / quiet-hours row became, to put the service's errors back in place
    cap_rows: list[int] = field(default_factory=list)
    quiet_rows: list[int] = field(default_factory=list)
    capacity_rows: list[int] = field(default_factory=list)


def _split_seconds(seconds: int | None) -> tuple[str, str]:
    """`seconds` as the largest whole unit (3 days rather than 259200 seconds)."""
    if not seconds:
        return "", "hours"
    for unit, size in sorted(UNITS, key=lambda item: -item[1]):
        if seconds % size == 0:
            return str(seconds // size), unit
    return str(seconds), "seconds"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def form_state(policy: Mapping[str, Any]) -> PolicyForm:
    """The form's values for the current policy, with blank rows to add a cap or a send window."""
    caps = []
    for cap in policy.get("caps") or []:
        value, unit = _split_seconds(int(cap.get("window_seconds") or 0))
        caps.append({"id": cap.get("id", ""), "limit": str(cap.get("limit", "")), "window": value, "unit": unit,
                     "scope": cap.get("scope") or "all", "scope_value": cap.get("scope_value") or ""})
    quiet = [{"channel": channel, "days": set(window.get("weekdays") or ()), "start": window.get("start", ""),
              "end": window.get("end", "")}
             for channel, windows in sorted((policy.get("quiet_hours") or {}).items()) for window in windows]
    gap_value, gap_unit = _split_seconds(policy.get("min_marketing_gap_seconds"))
    group = policy.get("control_group") or {}
    opt_in = set(policy.get("opt_in_channels") or ())
    state = PolicyForm(caps=caps, gap_value=gap_value, gap_unit=gap_unit, quiet=quiet,
                       channels=_channels(opt_in, quiet), opt_in=opt_in,
                       cg_percent=_number(group["percent"]) if group.get("percent") is not None else "",
                       cg_salt=group.get("salt") or "", version=str(policy.get("version") or ""),
                       capacity=[{"id": rule.get("id", ""), "channel": rule.get("channel", ""),
                                  "category": rule.get("category") or "", "limit": str(rule.get("limit", "")),
                                  "window": rule.get("window") or "day", "time_zone": rule.get("time_zone") or "",
                                  "when_full": rule.get("when_full") or "defer"}
                                 for rule in policy.get("capacity") or []])
    return with_blank_rows(state)


def _channels(opt_in: set[str], quiet: list[dict[str, Any]]) -> list[str]:
    named = set(opt_in) | {row["channel"] for row in quiet if row.get("channel")}
    return list(KNOWN_CHANNELS) + sorted(named - set(KNOWN_CHANNELS))


def with_blank_rows(state: PolicyForm) -> PolicyForm:
    """Append the blank rows a person fills in to add a cap or a window (no script needed)."""
    state.caps = state.caps + [{"id": "", "limit": "", "window": "", "unit": "days", "scope": "all",
                                "scope_value": ""} for _ in range(BLANK_ROWS)]
    state.quiet = state.quiet + [{"channel": "", "days": set(), "start": "", "end": ""} for _ in range(BLANK_ROWS)]
    state.capacity = state.capacity + [{"id": "", "channel": "", "category": "", "limit": "", "window": "day",
                                        "time_zone": "", "when_full": "defer"} for _ in range(BLANK_ROWS)]
    return state


def _count(form: FormData, name: str) -> int:
    try:
        return max(0, min(MAX_ROWS, int(form.get(name) or 0)))
    except ValueError:
        return 0


def _whole(text: str, name: str, errors: dict[str, list[str]], low: int, high: int) -> int | None:
    try:
        value = int(text)
    except ValueError:
        errors.setdefault(name, []).append("a whole number")
        return None
    if not low <= value <= high:
        errors.setdefault(name, []).append(f"between {low:,} and {high:,}")
        return None
    return value


def _duration(value: str, unit: str, name: str, errors: dict[str, list[str]]) -> int | None:
    size = UNIT_SECONDS.get(unit)
    if size is None:
        errors.setdefault(name, []).append("choose a unit")
        return None
    amount = _whole(value, name, errors, 0, 366 * 86_400)
    return None if amount is None else amount * size


def parse(form: FormData) -> tuple[dict[str, Any], PolicyForm]:
    """The `PUT /policy` document a posted form means, and the form's state (errors included)."""
    errors: dict[str, list[str]] = {}
    caps, cap_rows, cap_values = [], [], []
    for i in range(_count(form, "cap-count")):
        row = {key: (form.get(f"cap-{i}-{key}") or "").strip()
               for key in ("id", "limit", "window", "unit", "scope", "scope_value")}
        cap_values.append(row)
        if form.get(f"cap-{i}-remove") or not (row["id"] or row["limit"] or row["window"]):
            continue
        if not CAP_ID.match(row["id"]):
            errors.setdefault(f"cap-{i}-id", []).append("letters, digits and _ . : - (at most 64)")
        limit = _whole(row["limit"], f"cap-{i}-limit", errors, 0, 10_000)
        window = _duration(row["window"], row["unit"], f"cap-{i}-window", errors)
        if window == 0:
            errors.setdefault(f"cap-{i}-window", []).append("longer than nothing")
        if row["scope"] not in SCOPES:
            errors.setdefault(f"cap-{i}-scope", []).append("choose what the cap counts")
        if row["scope"] != "all" and not row["scope_value"]:
            errors.setdefault(f"cap-{i}-scope_value", []).append(f"which {row['scope']} the cap counts")
        caps.append({"id": row["id"], "limit": limit, "window_seconds": window, "scope": row["scope"],
                     "scope_value": (row["scope_value"] or None) if row["scope"] != "all" else None})
        cap_rows.append(i)

    gap_value, gap_unit = (form.get("gap") or "").strip(), form.get("gap-unit") or "hours"
    gap = _duration(gap_value, gap_unit, "gap", errors) if gap_value else None

    quiet: dict[str, list[dict[str, Any]]] = {}
    quiet_values, quiet_rows = [], []
    for i in range(_count(form, "qh-count")):
        row = {"channel": (form.get(f"qh-{i}-channel") or "").strip(),
               "start": (form.get(f"qh-{i}-start") or "").strip(), "end": (form.get(f"qh-{i}-end") or "").strip(),
               "days": {int(d) for d in form.getlist(f"qh-{i}-day") if d in "0123456" and len(d) == 1}}
        quiet_values.append(row)
        if form.get(f"qh-{i}-remove") or not (row["channel"] or row["start"] or row["end"]):
            continue
        if not CHANNEL.match(row["channel"]):
            errors.setdefault(f"qh-{i}-channel", []).append("a channel name: lowercase letters, digits, _")
        for end in ("start", "end"):
            if not HHMM.match(row[end]):
                errors.setdefault(f"qh-{i}-{end}", []).append("a time as HH:MM")
        if not row["days"]:
            errors.setdefault(f"qh-{i}-day", []).append("choose at least one day")
        windows = quiet.setdefault(row["channel"], [])
        windows.append({"weekdays": sorted(row["days"]), "start": row["start"], "end": row["end"]})
        quiet_rows.append(i)

    capacity, capacity_rows, capacity_values = _capacity(form, errors)

    opt_in = {c for c in form.getlist("opt_in") if c}
    for extra in (form.get("opt_in_other") or "").replace(",", " ").split():
        opt_in.add(extra.strip())
    for channel in sorted(opt_in):
        if not CHANNEL.match(channel):
            errors.setdefault("opt_in_other", []).append(f"{channel!r} is not a channel name")

    cg_percent, cg_salt = (form.get("cg-percent") or "").strip(), (form.get("cg-salt") or "").strip()
    control_group = None
    if cg_percent:
        try:
            percent = float(cg_percent)
        except ValueError:
            errors.setdefault("cg-percent", []).append("a number of percent, e.g. 5 or 2.5")
        else:
            if not 0 <= percent <= 50:
                errors.setdefault("cg-percent", []).append("between 0 and 50")
            if not cg_salt:
                errors.setdefault("cg-salt", []).append("a salt decides who is drawn; any short text, e.g. 2026-h1")
            control_group = {"percent": percent, "salt": cg_salt}

    document = {"caps": caps, "min_marketing_gap_seconds": gap or None, "quiet_hours": quiet,
                "opt_in_channels": sorted(opt_in), "control_group": control_group}
    if form.get("cp-count") is not None:  # a form without the rows (older page) leaves the stored rules alone
        document["capacity"] = capacity
    state = PolicyForm(caps=cap_values, gap_value=gap_value, gap_unit=gap_unit, quiet=quiet_values,
                       channels=_channels(opt_in, quiet_values), opt_in=opt_in, cg_percent=cg_percent,
                       cg_salt=cg_salt, allow_empty=bool(form.get("allow_empty")),
                       version=(form.get("version") or "").strip(), errors=errors,
                       cap_rows=cap_rows, quiet_rows=quiet_rows, capacity=capacity_values,
                       capacity_rows=capacity_rows)
    return document, state


def _capacity(form: FormData, errors: dict[str, list[str]]) -> tuple[list[dict[str, Any]], list[int], list[dict]]:
    """The capacity rules of the form's rows (all contacts together per calendar window)."""
    rules, rows, values = [], [], []
    for i in range(_count(form, "cp-count")):
        row = {key: (form.get(f"cp-{i}-{key}") or "").strip()
               for key in ("id", "channel", "category", "limit", "window", "time_zone", "when_full")}
        values.append(row)
        if form.get(f"cp-{i}-remove") or not (row["id"] or row["channel"] or row["limit"]):
            continue
        if not CAP_ID.match(row["id"]):
            errors.setdefault(f"cp-{i}-id", []).append("letters, digits and _ . : - (at most 64)")
        if not CHANNEL.match(row["channel"]):
            errors.setdefault(f"cp-{i}-channel", []).append("a channel name: lowercase letters, digits, _")
        limit = _whole(row["limit"], f"cp-{i}-limit", errors, 0, 100_000_000)
        for key, allowed in (("category", CAPACITY_CATEGORIES), ("window", CAPACITY_WINDOWS),
                             ("when_full", WHEN_FULL)):
            if row[key] not in allowed:
                errors.setdefault(f"cp-{i}-{key}", []).append("choose one")
        if not row["time_zone"]:
            errors.setdefault(f"cp-{i}-time_zone", []).append("a time zone, e.g. Europe/Amsterdam")
        rules.append({"id": row["id"], "channel": row["channel"], "category": row["category"] or None, "limit": limit,
                      "window": row["window"], "time_zone": row["time_zone"], "when_full": row["when_full"]})
        rows.append(i)
    return rules, rows, values


def flatten(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """A service's nested field errors (`{"caps": {"0": {"limit": [...]}}}`) as dotted paths."""
    if isinstance(errors, dict):
        flat: dict[str, list[str]] = {}
        for key, value in errors.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(errors, list) and all(isinstance(item, str) for item in errors):
        return {prefix or "_": list(errors)}
    return {prefix or "_": [str(errors)]}


def service_errors(state: PolicyForm, errors: Mapping[str, Any]) -> dict[str, list[str]]:
    """Put a service's field errors beside the inputs they name; answer those that name no input."""
    unplaced: dict[str, list[str]] = {}
    for path, messages in flatten(dict(errors)).items():
        parts = path.split(".")
        name = None
        if parts[0] == "caps" and len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) < len(state.cap_rows):
            column = {"window_seconds": "window"}.get(parts[2] if len(parts) > 2 else "id", parts[-1])
            name = f"cap-{state.cap_rows[int(parts[1])]}-{column}"
        elif (parts[0] == "capacity" and len(parts) >= 3 and parts[1].isdigit()
              and int(parts[1]) < len(state.capacity_rows)):
            name = f"cp-{state.capacity_rows[int(parts[1])]}-{parts[2]}"
        elif parts[0] == "min_marketing_gap_seconds":
            name = "gap"
        elif parts[0] == "control_group":
            name = "cg-salt" if parts[-1] == "salt" else "cg-percent"
        elif parts[0] == "opt_in_channels":
            name = "opt_in_other"
        if name:
            state.errors.setdefault(name, []).extend(messages)
        else:
            unplaced[path] = messages
    return unplaced
