"""The gate's rules as a JSON document (stored by repository.rules_store, seeded with `PolicyRules.defaults()`).

Document shape (also the body of `GET/PUT /policy`; `PATCH /policy` takes a merge patch of it):

    {"caps": [{"id": "marketing-weekly", "limit": 3, "window_seconds": 604800,
               "scope": "category", "scope_value": "marketing"}],
     "min_marketing_gap_seconds": 14400,
     "quiet_hours": {"email": [{"weekdays": [0, 1, 2, 3, 4, 5, 6], "start": "08:00", "end": "21:00"}]},
     "opt_in_channels": ["email", "sms"],
     "control_group": {"percent": 5, "salt": "2026-h1"},
     "capacity": [{"id": "call-center-daily", "channel": "call", "category": null, "limit": 150,
                   "window": "day", "time_zone": "Europe/Amsterdam", "when_full": "defer"}]}

`control_group` is `null` while off (the default). `PUT /policy` requires it like every other member,
so a client written before it existed gets a 422 naming it instead of silently switching it off;
stored documents from before it existed read back as off. `capacity` (a list, `[]` for none) is
required on `PUT` the same way; stored documents from before it existed read back as no rules.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

from services.channels.domain import (
    CapacityRule,
    ControlGroup,
    FrequencyCap,
    PolicyRules,
    QuietHours,
    SendWindow,
)


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def to_document(rules: PolicyRules) -> dict[str, Any]:
    """The JSON document of `rules`."""
    gap = rules.min_marketing_gap
    group = rules.control_group
    return {
        "caps": [{"id": c.id, "limit": c.limit, "window_seconds": int(c.window.total_seconds()),
                  "scope": c.scope.value, "scope_value": c.scope_value} for c in rules.caps],
        "min_marketing_gap_seconds": int(gap.total_seconds()) if gap else None,
        "quiet_hours": {channel: [{"weekdays": sorted(w.weekdays), "start": _hhmm(w.start), "end": _hhmm(w.end)}
                                  for w in windows]
                        for channel, windows in sorted(rules.quiet_hours.windows.items())},
        "opt_in_channels": sorted(rules.opt_in_channels),
        "control_group": None if group is None else {"percent": group.percent, "salt": group.salt},
        "capacity": [{"id": r.id, "channel": r.channel, "category": r.category and r.category.value,
                      "limit": r.limit, "window": r.window.value, "time_zone": r.time_zone,
                      "when_full": r.when_full.value} for r in rules.capacity],
    }


def _time(text: str | time) -> time:
    return text if isinstance(text, time) else time.fromisoformat(text)


def from_document(document: dict[str, Any]) -> PolicyRules:
    """Build `PolicyRules` from a document; raises ValueError when a rule is inconsistent."""
    caps = tuple(FrequencyCap(c["id"], c["limit"], timedelta(seconds=c["window_seconds"]), c.get("scope", "all"),
                              c.get("scope_value")) for c in document.get("caps", []))
    gap = document.get("min_marketing_gap_seconds")
    quiet = QuietHours({channel: tuple(SendWindow(frozenset(w["weekdays"]), _time(w["start"]), _time(w["end"]))
                                       for w in windows)
                        for channel, windows in (document.get("quiet_hours") or {}).items()})
    group = document.get("control_group")
    capacity = tuple(CapacityRule(r["id"], r["channel"], r["limit"], r["window"], r["time_zone"],
                                  r.get("when_full", "defer"), r.get("category"))
                     for r in document.get("capacity") or ())
    return PolicyRules(caps=caps, min_marketing_gap=timedelta(seconds=gap) if gap else None, quiet_hours=quiet,
                       opt_in_channels=frozenset(document.get("opt_in_channels") or ()),
                       control_group=None if group is None else ControlGroup(group["percent"], group["salt"]),
                       capacity=capacity)


def sets_no_rule(rules: PolicyRules) -> bool:
    """True when `rules` restrict nothing: no cap, no gap, no quiet hours, no opt-in channel, no control group,
    no capacity rule."""
    group = rules.control_group
    return not (rules.caps or rules.min_marketing_gap or any(rules.quiet_hours.windows.values())
                or rules.opt_in_channels or (group is not None and group.percent > 0) or rules.capacity)
