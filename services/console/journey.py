"""The journey of a campaign as a graph, laid out and drawn on the server as inline SVG.

Steps are placed in rows by their distance from the entry (breadth first), so a drip reads top to
bottom; branches, A/B splits and goal checks fan out into the row below, edges back to an earlier
row (loops) curve along the side. Each send step carries its funnel counts from the report.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from services.console.svg import clip, svg, text

FUNNEL = ("requested", "sent", "deferred", "suppressed", "capped", "failed", "opened", "clicked", "converted")
NODE_W, GAP_X, GAP_Y = 230, 36, 56
HEIGHTS = {"send": 112, "entry": 54, "end": 34}
DEFAULT_H = 58


@dataclass
class Node:
    """A box: a step, the entry, or the end."""

    id: str
    kind: str
    lines: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    x: float = 0
    y: float = 0

    @property
    def height(self) -> int:
        """Box height (send steps hold their counts)."""
        return HEIGHTS.get(self.kind, DEFAULT_H)


@dataclass
class Edge:
    """An arrow from one node to another, with an optional label (a condition, a variant)."""

    source: str
    target: str
    label: str = ""


def successors(step: dict[str, Any]) -> list[tuple[str | None, str]]:
    """(next step id or None for the end, label) of every way out of a step."""
    kind = step.get("type")
    if kind == "branch":
        arms = [(arm.get("next"), clip(arm.get("condition", ""), 26)) for arm in step.get("branches", [])]
        return [*arms, (step.get("else"), "else")]
    if kind == "split":
        return [(v.get("next"), f"{v.get('name')} · {v.get('weight')}") for v in step.get("variants", [])]
    if kind == "goal_check":
        return [(None, "goal met: converted"), (step.get("next"), "not yet")]
    return [(step.get("next"), "")]


def _describe(step: dict[str, Any]) -> list[str]:
    kind = step.get("type")
    if kind == "send":
        return [f"✉ {step['id']}", f"send · {step.get('channel', '?')}"]
    if kind == "wait":
        return [f"{step['id']}", f"wait {step.get('duration') or 'until ' + str(step.get('until'))}"]
    if kind == "branch":
        return [f"◇ {step['id']}", f"branch · {len(step.get('branches', []))} + else"]
    if kind == "split":
        return [f"{step['id']}", f"A/B split · {len(step.get('variants', []))} variants"]
    if kind == "goal_check":
        return [f"★ {step['id']}", clip(f"goal: {step.get('condition', '')}", 30)]
    return [str(step.get("id")), str(kind)]


def _entry_lines(entry: dict[str, Any]) -> list[str]:
    if entry.get("type") == "event":
        condition = entry.get("condition")
        return [f"entry: event {entry.get('event_type')}", clip(f"if {condition}", 34) if condition else "any"]
    return ["entry: segment", clip(entry.get("segment_id", ""), 24)]


def build(definition: dict[str, Any], report: dict[str, Any] | None = None) -> tuple[list[Node], list[Edge]]:
    """The nodes (with positions) and edges of a campaign definition; `report` adds the step counts."""
    steps = {s["id"]: s for s in definition.get("steps", []) if "id" in s}
    counts = (report or {}).get("steps", {})
    nodes = {"entry": Node("entry", "entry", _entry_lines(definition.get("entry", {})))}
    for step_id, step in steps.items():
        nodes[step_id] = Node(step_id, step.get("type", "?"), _describe(step),
                              {k: int(counts.get(step_id, {}).get(k, 0)) for k in FUNNEL})
    nodes["end"] = Node("end", "end", ["end"])
    start = (definition.get("entry") or {}).get("start_step") or next(iter(steps), None)
    edges = [Edge("entry", start or "end")]
    for step_id, step in steps.items():
        edges.extend(Edge(step_id, target if target in steps else "end", label) for target, label in successors(step))
    _layout(nodes, edges)
    return list(nodes.values()), edges


def _layout(nodes: dict[str, Node], edges: list[Edge]) -> None:
    out: dict[str, list[str]] = {}
    for edge in edges:
        out.setdefault(edge.source, []).append(edge.target)
    layer = {"entry": 0}
    queue = deque(["entry"])
    while queue:
        current = queue.popleft()
        for target in out.get(current, []):
            if target not in layer and target != "end":
                layer[target] = layer[current] + 1
                queue.append(target)
    last = max(layer.values())
    for node_id in nodes:  # unreachable steps still show, below the rest
        if node_id not in layer and node_id != "end":
            last += 1
            layer[node_id] = last
    layer["end"] = max(layer.values()) + 1
    rows: dict[int, list[str]] = {}
    for node_id in nodes:
        rows.setdefault(layer[node_id], []).append(node_id)
    widest = max(len(r) for r in rows.values())
    total_w = widest * NODE_W + (widest - 1) * GAP_X
    y = 20.0
    for index in sorted(rows):
        members = rows[index]
        row_w = len(members) * NODE_W + (len(members) - 1) * GAP_X
        x = 20 + (total_w - row_w) / 2
        for node_id in members:
            nodes[node_id].x, nodes[node_id].y = x, y
            x += NODE_W + GAP_X
        y += max(nodes[n].height for n in members) + GAP_Y


def _node_svg(node: Node) -> list[str]:
    cx = node.x + NODE_W / 2
    parts = [f'<g class="node node-{node.kind}" id="step-{node.id}">',
             f'<rect x="{node.x:.0f}" y="{node.y:.0f}" width="{NODE_W}" height="{node.height}" rx="8"/>']
    if node.kind == "end":
        parts.append(text(cx, node.y + 22, "end", "node-title"))
    else:
        parts.append(text(cx, node.y + 20, clip(node.lines[0], 30), "node-title"))
        parts.append(text(cx, node.y + 38, clip(node.lines[1], 32), "node-sub"))
    if node.kind == "send":
        c = node.counts
        rows = [f"requested {c['requested']} · sent {c['sent']}",
                f"deferred {c['deferred']} · suppressed {c['suppressed']}",
                f"capped {c['capped']} · failed {c['failed']}",
                f"opened {c['opened']} · clicked {c['clicked']} · conv. {c['converted']}"]
        for offset, row in enumerate(rows):
            parts.append(text(cx, node.y + 58 + offset * 14, row, "node-count"))
    parts.append("</g>")
    return parts


def _edge_svg(edge: Edge, nodes: dict[str, Node]) -> list[str]:
    a, b = nodes[edge.source], nodes[edge.target]
    x1, y1 = a.x + NODE_W / 2, a.y + a.height
    x2, y2 = b.x + NODE_W / 2, b.y
    if y2 > y1:
        mid = (y1 + y2) / 2
        path = f"M{x1:.0f},{y1:.0f} C{x1:.0f},{mid:.0f} {x2:.0f},{mid:.0f} {x2:.0f},{y2 - 4:.0f}"
        lx, ly = (x1 + x2) / 2, mid
    else:  # back to an earlier row: around the right-hand side
        side = max(a.x, b.x) + NODE_W + GAP_X / 2
        path = f"M{a.x + NODE_W:.0f},{a.y + a.height / 2:.0f} C{side:.0f},{a.y:.0f} {side:.0f},{b.y:.0f} " \
               f"{b.x + NODE_W:.0f},{b.y + b.height / 2:.0f}"
        lx, ly = side + 4, (a.y + a.height / 2 + b.y + b.height / 2) / 2
    parts = [f'<path class="edge" d="{path}" marker-end="url(#arrow)"/>']
    if edge.label:
        parts.append(text(lx, ly + 4, edge.label, "edge-label", anchor="start" if y2 <= y1 else "middle"))
    return parts


def draw(definition: dict[str, Any], report: dict[str, Any] | None = None) -> Markup:
    """The journey as inline SVG."""
    nodes, edges = build(definition, report)
    by_id = {n.id: n for n in nodes}
    width = max(n.x + NODE_W for n in nodes) + 110  # room for loops drawn along the right-hand side
    height = max(n.y + n.height for n in nodes) + 20
    body = ['<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrow"/></marker></defs>']
    for edge in edges:
        body.extend(_edge_svg(edge, by_id))
    for node in nodes:
        body.extend(_node_svg(node))
    label = f"Journey of {definition.get('name', 'the campaign')}: {len(nodes) - 2} steps"
    return svg(width, height, body, label, "journey")


def funnel_rows(definition: dict[str, Any], report: dict[str, Any]) -> list[dict[str, Any]]:
    """Per send step (in definition order): its counts, ready for the funnel table and bars."""
    counts = report.get("steps", {})
    rows = []
    for step in definition.get("steps", []):
        if step.get("type") == "send":
            entry = counts.get(step["id"], {})
            rows.append({"id": step["id"], "channel": step.get("channel"),
                         **{k: int(entry.get(k, 0)) for k in FUNNEL},
                         "suppressed_by_reason": entry.get("suppressed_by_reason", {}),
                         "capped_by_rule": entry.get("capped_by_rule", {})})
    return rows
