"""Meaning checks of a raw campaign definition (the HTTP layer has already checked shapes).

The checks of the definition as a whole live here (header, entry, exit goals, reentry, the step
graph); each step's own checks and its edges belong to its type in `domain/steps/`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from services.campaigns.domain.durations import zone
from services.campaigns.domain.proof import check_proof_recipients
from services.campaigns.domain.steps import REGISTRY
from services.campaigns.domain.steps.base import (
    CONDITION_ROOTS,
    STEP_ROOT,
    Checks,
    DefinitionError,
    check_condition,
    is_int,
)

CATEGORIES = frozenset({"marketing", "service", "transactional"})
REENTRY_POLICIES = frozenset({"never", "always", "cooldown"})
__all__ = ["CATEGORIES", "CONDITION_ROOTS", "REENTRY_POLICIES", "STEP_ROOT", "DefinitionError", "check_condition",
           "step_graph", "validate_definition"]


def validate_definition(raw: Mapping[str, Any], known_channels: set[str]) -> list[DefinitionError]:
    """Return every meaning error of a raw campaign definition; an empty list means valid."""
    errors: list[DefinitionError] = []
    if not isinstance(raw, Mapping):
        return [DefinitionError("", "a campaign definition must be an object")]
    _check_header(raw, errors)
    steps = raw.get("steps")
    if not isinstance(steps, list) or not steps:
        errors.append(DefinitionError("steps", "a campaign needs at least one step"))
        steps = []
    ids = _check_step_ids(steps, errors)
    outcome_ids = {s["id"] for s in steps if isinstance(s, Mapping) and s.get("type") in REGISTRY
                   and REGISTRY[s["type"]].sends}
    checks = Checks(ids, outcome_ids, known_channels, errors)
    for index, step in enumerate(steps):
        if isinstance(step, Mapping):
            _check_step(step, f"steps[{index}]", checks)
    _check_entry(raw.get("entry"), ids, errors)
    _check_exit_goals(raw.get("exit_goals", []), errors)
    _check_reentry(raw.get("reentry", {"policy": "never"}), errors)
    errors.extend(check_proof_recipients(raw.get("proof_recipients"), known_channels))
    if not isinstance(raw.get("requires_approval", False), bool):
        errors.append(DefinitionError("requires_approval", "must be true or false"))
    graph = step_graph(steps)
    if graph:
        _check_cycles(graph, steps, errors)
        _check_reachable(graph, _start_step(raw, graph), steps, errors)
    return errors


def step_graph(steps: Iterable[Any]) -> dict[str, list[tuple[str, str]]]:
    """Map each step id to its outgoing edges as (field path, target id) pairs."""
    graph: dict[str, list[tuple[str, str]]] = {}
    for step in steps:
        if isinstance(step, Mapping) and isinstance(step.get("id"), str):
            graph.setdefault(step["id"], []).extend(_edges(step))
    return graph


def _edges(step: Mapping[str, Any]) -> list[tuple[str, str]]:
    kind = REGISTRY.get(step.get("type"))  # type: ignore[arg-type]
    if kind is None:  # reported by _check_step; its `next` still counts for reachability
        return [("next", step["next"])] if isinstance(step.get("next"), str) else []
    return kind.edges(step)


def _check_header(raw: Mapping[str, Any], errors: list[DefinitionError]) -> None:
    if not isinstance(raw.get("name"), str) or not raw["name"].strip():
        errors.append(DefinitionError("name", "a campaign needs a name"))
    if raw.get("category") not in CATEGORIES:
        errors.append(DefinitionError("category", f"category must be one of {sorted(CATEGORIES)}"))
    if not is_int(raw.get("priority", 0)):
        errors.append(DefinitionError("priority", "priority must be an integer"))
    topic = raw.get("topic")
    if topic is not None and (not isinstance(topic, str) or not topic.strip()):
        errors.append(DefinitionError("topic", "topic must be a non-empty string or absent"))


def _check_step_ids(steps: list[Any], errors: list[DefinitionError]) -> set[str]:
    ids: set[str] = set()
    for index, step in enumerate(steps):
        step_id = step.get("id") if isinstance(step, Mapping) else None
        if not isinstance(step_id, str) or not step_id:
            errors.append(DefinitionError(f"steps[{index}].id", "every step needs a string id"))
        elif step_id in ids:
            errors.append(DefinitionError(f"steps[{index}].id", f"duplicate step id {step_id!r}"))
        else:
            ids.add(step_id)
    return ids


def _check_step(step: Mapping[str, Any], path: str, checks: Checks) -> None:
    kind = REGISTRY.get(step.get("type"))  # type: ignore[arg-type]
    if kind is None:
        checks.error(f"{path}.type", f"unknown step type {step.get('type')!r}")
        return
    for field, target in kind.edges(step):
        if target not in checks.ids:
            checks.error(f"{path}.{field}", f"unknown step {target!r}")
    kind.check(step, path, checks)


def _check_entry(entry: Any, ids: set[str], errors: list[DefinitionError]) -> None:
    if not isinstance(entry, Mapping):
        errors.append(DefinitionError("entry", "a campaign needs an entry"))
        return
    start = entry.get("start_step")
    if start is not None and start not in ids:
        errors.append(DefinitionError("entry.start_step", f"unknown step {start!r}"))
    if entry.get("type") == "event":
        if not isinstance(entry.get("event_type"), str) or not entry["event_type"]:
            errors.append(DefinitionError("entry.event_type", "an event entry needs an event_type"))
        if entry.get("condition") is not None:
            check_condition(entry["condition"], "entry.condition", errors)
    elif entry.get("type") == "segment":
        if not isinstance(entry.get("segment_id"), str) or not entry["segment_id"]:
            errors.append(DefinitionError("entry.segment_id", "a segment entry needs a segment_id"))
        _check_schedule(entry.get("schedule"), errors)
    else:
        errors.append(DefinitionError("entry.type", "entry type must be 'segment' or 'event'"))


def _check_schedule(schedule: Any, errors: list[DefinitionError]) -> None:
    if not isinstance(schedule, Mapping) or ("at" in schedule) == ("cron" in schedule):
        errors.append(DefinitionError("entry.schedule", "a schedule needs exactly one of 'at' or 'cron'"))
        return
    if "at" in schedule:
        try:
            at = datetime.fromisoformat(schedule["at"])
        except (TypeError, ValueError):
            errors.append(DefinitionError("entry.schedule.at", f"invalid ISO datetime {schedule['at']!r}"))
            return
        if at.tzinfo is None:
            errors.append(DefinitionError("entry.schedule.at", "the start time needs a UTC offset"))
        return
    tz_name = schedule.get("timezone", "UTC")
    try:
        tz = zone(tz_name)
    except ValueError as exc:
        errors.append(DefinitionError("entry.schedule.timezone", str(exc)))
        return
    try:
        CronTrigger.from_crontab(schedule["cron"], timezone=tz)
    except (TypeError, ValueError) as exc:
        errors.append(
            DefinitionError("entry.schedule.cron", f"invalid cron expression {schedule['cron']!r}: {exc}")
        )


def _check_exit_goals(goals: Any, errors: list[DefinitionError]) -> None:
    if not isinstance(goals, list):
        errors.append(DefinitionError("exit_goals", "exit_goals must be a list"))
        return
    for i, goal in enumerate(goals):
        path = f"exit_goals[{i}]"
        if not isinstance(goal, Mapping) or not isinstance(goal.get("event_type"), str):
            errors.append(DefinitionError(f"{path}.event_type", "an exit goal needs an event_type"))
            continue
        if goal.get("condition") is not None:
            check_condition(goal["condition"], f"{path}.condition", errors)
        topic = goal.get("suppress_topic")
        if topic is not None and (not isinstance(topic, str) or not topic):
            errors.append(
                DefinitionError(f"{path}.suppress_topic", "suppress_topic must be a non-empty string")
            )


def _check_reentry(reentry: Any, errors: list[DefinitionError]) -> None:
    policy = reentry.get("policy") if isinstance(reentry, Mapping) else None
    if policy not in REENTRY_POLICIES:
        errors.append(DefinitionError("reentry.policy", f"policy must be one of {sorted(REENTRY_POLICIES)}"))
    elif policy == "cooldown":
        Checks(set(), set(), set(), errors).duration(reentry.get("cooldown"), "reentry.cooldown")


def _start_step(raw: Mapping[str, Any], graph: Mapping[str, Any]) -> str:
    entry = raw.get("entry")
    if isinstance(entry, Mapping) and entry.get("start_step") in graph:
        return entry["start_step"]
    return next(iter(graph))


def _check_cycles(
    graph: dict[str, list[tuple[str, str]]], steps: list[Any], errors: list[DefinitionError]
) -> None:
    # Any cycle is an error: an enrollment must always end, and a loop through a wait would
    # re-send the same (campaign, step, contact, occurrence), which the dispatch gate drops.
    index = {s["id"]: i for i, s in enumerate(steps) if isinstance(s, Mapping) and "id" in s}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for field, target in graph.get(node, []):
            if state.get(target) == 1:
                loop = path[path.index(target) :] + [target]
                errors.append(
                    DefinitionError(
                        f"steps[{index[node]}].{field}", f"cycle in the step graph: {' -> '.join(loop)}"
                    )
                )
            elif target not in state and target in graph:
                visit(target)
        path.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)


def _check_reachable(
    graph: dict[str, list[tuple[str, str]]], start: str, steps: list[Any], errors: list[DefinitionError]
) -> None:
    seen, todo = {start}, [start]
    while todo:
        for _, target in graph.get(todo.pop(), []):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    for i, step in enumerate(steps):
        if isinstance(step, Mapping) and step.get("id") in graph and step["id"] not in seen:
            errors.append(
                DefinitionError(f"steps[{i}]", f"step {step['id']!r} is unreachable from {start!r}")
            )
