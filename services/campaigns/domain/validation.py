"""Meaning checks of a raw campaign definition (the HTTP layer has already checked shapes)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from services.campaigns.domain.durations import parse_duration, parse_time_of_day, zone
from services.campaigns.domain.templates import validate_template
from shared.filters import FilterSyntaxError, fields, parse

CATEGORIES = frozenset({"marketing", "service", "transactional"})
STEP_TYPES = frozenset({"send", "wait", "branch", "split", "goal_check"})
REENTRY_POLICIES = frozenset({"never", "always", "cooldown"})
# Field roots a condition may read (suppressions and history are functions of the filter
# language); `step` only in branches and goal checks, where earlier sends have outcomes.
CONDITION_ROOTS = frozenset({"contact", "event", "consent"})
STEP_ROOT = "step"


@dataclass(frozen=True)
class DefinitionError:
    """One problem in a definition: where it is (e.g. 'steps[2].next') and what is wrong."""

    path: str
    message: str


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
    send_ids = {s["id"] for s in steps if isinstance(s, Mapping) and s.get("type") == "send"}
    for index, step in enumerate(steps):
        if isinstance(step, Mapping):
            _check_step(step, f"steps[{index}]", ids, send_ids, known_channels, errors)
    _check_entry(raw.get("entry"), ids, errors)
    _check_exit_goals(raw.get("exit_goals", []), errors)
    _check_reentry(raw.get("reentry", {"policy": "never"}), errors)
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
    edges = []
    if isinstance(step.get("next"), str):
        edges.append(("next", step["next"]))
    if step.get("type") == "branch":
        for i, branch in enumerate(_list(step.get("branches"))):
            if isinstance(branch, Mapping) and isinstance(branch.get("next"), str):
                edges.append((f"branches[{i}].next", branch["next"]))
        if isinstance(step.get("else"), str):
            edges.append(("else", step["else"]))
    if step.get("type") == "split":
        for i, variant in enumerate(_list(step.get("variants"))):
            if isinstance(variant, Mapping) and isinstance(variant.get("next"), str):
                edges.append((f"variants[{i}].next", variant["next"]))
    return edges


def _check_header(raw: Mapping[str, Any], errors: list[DefinitionError]) -> None:
    if not isinstance(raw.get("name"), str) or not raw["name"].strip():
        errors.append(DefinitionError("name", "a campaign needs a name"))
    if raw.get("category") not in CATEGORIES:
        errors.append(DefinitionError("category", f"category must be one of {sorted(CATEGORIES)}"))
    if not _is_int(raw.get("priority", 0)):
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


def _check_step(
    step: Mapping[str, Any],
    path: str,
    ids: set[str],
    send_ids: set[str],
    known_channels: set[str],
    errors: list[DefinitionError],
) -> None:
    kind = step.get("type")
    if kind not in STEP_TYPES:
        errors.append(DefinitionError(f"{path}.type", f"unknown step type {kind!r}"))
        return
    for field, target in _edges(step):
        if target not in ids:
            errors.append(DefinitionError(f"{path}.{field}", f"unknown step {target!r}"))
    if kind == "send":
        _check_send(step, path, known_channels, errors)
    elif kind == "wait":
        _check_wait(step, path, errors)
    elif kind == "branch":
        branches = _list(step.get("branches"))
        if not branches:
            errors.append(DefinitionError(f"{path}.branches", "a branch needs at least one condition"))
        for i, branch in enumerate(branches):
            text = branch.get("condition") if isinstance(branch, Mapping) else None
            check_condition(text, f"{path}.branches[{i}].condition", errors, send_ids)
    elif kind == "split":
        _check_split(step, path, errors)
    else:
        check_condition(step.get("condition"), f"{path}.condition", errors, send_ids)


def _check_send(
    step: Mapping[str, Any], path: str, known_channels: set[str], errors: list[DefinitionError]
) -> None:
    if step.get("channel") not in known_channels:
        errors.append(
            DefinitionError(
                f"{path}.channel", f"unknown channel {step.get('channel')!r}; known: {sorted(known_channels)}"
            )
        )
    template = step.get("template")
    if isinstance(template, Mapping):
        for problem in validate_template(template):
            errors.append(DefinitionError(f"{path}.template", problem))
    elif not isinstance(template, str) or not template:
        errors.append(
            DefinitionError(f"{path}.template", "template must be a template id or {subject, body}")
        )
    if "priority" in step and not _is_int(step["priority"]):
        errors.append(DefinitionError(f"{path}.priority", "priority must be an integer"))
    if "expires_after" in step:
        _check_duration(step["expires_after"], f"{path}.expires_after", errors)


def _check_wait(step: Mapping[str, Any], path: str, errors: list[DefinitionError]) -> None:
    has_duration, has_until = "duration" in step, "until" in step
    if has_duration == has_until:
        errors.append(DefinitionError(path, "a wait needs exactly one of 'duration' or 'until'"))
    elif has_duration:
        _check_duration(step["duration"], f"{path}.duration", errors)
    else:
        try:
            parse_time_of_day(step["until"])
        except ValueError as exc:
            errors.append(DefinitionError(f"{path}.until", str(exc)))


def _check_split(step: Mapping[str, Any], path: str, errors: list[DefinitionError]) -> None:
    variants = _list(step.get("variants"))
    if len(variants) < 2:
        errors.append(DefinitionError(f"{path}.variants", "a split needs at least two variants"))
    names: set[str] = set()
    for i, variant in enumerate(variants):
        if not isinstance(variant, Mapping):
            errors.append(DefinitionError(f"{path}.variants[{i}]", "a variant must be an object"))
            continue
        name = variant.get("name")
        if not isinstance(name, str) or not name or name in names:
            errors.append(
                DefinitionError(
                    f"{path}.variants[{i}].name", f"variant name {name!r} is missing or not unique"
                )
            )
        if isinstance(name, str):
            names.add(name)
        weight = variant.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
            errors.append(DefinitionError(f"{path}.variants[{i}].weight", "weight must be a positive number"))


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
        _check_duration(reentry.get("cooldown"), "reentry.cooldown", errors)


def check_condition(
    text: Any, path: str, errors: list[DefinitionError], send_ids: set[str] | None = None
) -> None:
    """Append an error if `text` is not a valid condition; `send_ids` permits `step.<id>` references."""
    if not isinstance(text, str) or not text.strip():
        errors.append(DefinitionError(path, "a condition must be a non-empty string"))
        return
    roots = set(CONDITION_ROOTS) | ({STEP_ROOT} if send_ids is not None else set())
    try:
        expr = parse(text, allowed_roots=roots)
    except FilterSyntaxError as exc:
        errors.append(DefinitionError(path, f"invalid condition at position {exc.position}: {exc.message}"))
        return
    for field_path in sorted(fields(expr)):
        if field_path[0] != STEP_ROOT:
            continue
        if len(field_path) != 3 or field_path[2] != "outcome":
            errors.append(
                DefinitionError(path, f"{'.'.join(field_path)!r}: only step.<step id>.outcome exists")
            )
        elif send_ids is not None and field_path[1] not in send_ids:
            errors.append(
                DefinitionError(path, f"condition refers to {field_path[1]!r}, which is not a send step")
            )


def _check_duration(text: Any, path: str, errors: list[DefinitionError]) -> None:
    try:
        parse_duration(text)
    except ValueError as exc:
        errors.append(DefinitionError(path, str(exc)))


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


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
