"""Operators: health of every service, dead letters (read, replay), API keys, and rate charts from /metrics."""

from __future__ import annotations

import time
from typing import Any

import requests
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from services.console import charts, rates
from services.console.auth import client, roles_required
from services.console.client import ServiceError
from services.console.config import SERVICES
from shared.auth.keys import ROLES

bp = Blueprint("operator", __name__, url_prefix="/operator")


def _health(service: str, base: str) -> dict[str, Any]:
    try:
        answer = requests.get(f"{base}/healthz", timeout=3)
        body = answer.json()
        return {"service": service, "url": base, "ok": answer.status_code == 200, "checks": body.get("checks", {})}
    except (requests.RequestException, ValueError) as exc:
        return {"service": service, "url": base, "ok": False,
                "checks": {"reachable": {"ok": False, "detail": exc.__class__.__name__}}}


@bp.route("")
@roles_required("operator")
def overview() -> str:
    """Health, dead-letter totals, and throughput/latency over time per service."""
    api = client()
    urls = current_app.extensions["console"].service_urls
    health = [_health(service, urls[service]) for service in SERVICES]
    figures = []
    for service in SERVICES:
        try:
            samples = charts.parse(api.raw("GET", service, "/metrics").text)
        except ServiceError as exc:
            figures.append({"service": service, "error": exc.detail or exc.title})
            continue
        current_app.extensions["console_metrics"].add(service, samples, time.time())
        figures.append(_figures(service, current_app.extensions["console_metrics"].intervals(service)))
    return render_template("operator/overview.html", health=health, figures=figures, dead=_dead_queues(api))


def _figures(service: str, processes: dict[str, list[rates.Interval]]) -> dict[str, Any]:
    """The charts of one service: rates over time per process, and the latest interval per endpoint/status."""
    names = {process: f"worker started {charts.clock(float(process))}" if process != "unknown" else "worker"
             for process in processes}
    throughput = {names[p]: [(i.start, i.end, i.requests_per_second) for i in rows] for p, rows in processes.items()}
    throughput.update({f"5xx, {names[p]}": [(i.start, i.end, i.errors_per_second) for i in rows]
                       for p, rows in processes.items() if any(i.errors_per_second for i in rows)})
    latency = {names[p]: [(i.start, i.end, i.mean_latency_ms) for i in rows] for p, rows in processes.items()}
    latest = max((rows[-1] for rows in processes.values() if rows), key=lambda i: i.end, default=None)
    readings = sum(len(rows) for rows in processes.values())
    return {"service": service, "processes": len(processes), "readings": readings,
            "latest": latest,
            "throughput": charts.step_chart(throughput, f"{service}: requests per second", "/s"),
            "latency": charts.step_chart(latency, f"{service}: mean latency", " ms"),
            "endpoints": charts.bar_chart(sorted((latest.endpoint_rates if latest else {}).items(),
                                                 key=lambda item: -item[1]),
                                          f"{service}: requests per second per endpoint, latest interval", "/s"),
            "statuses": charts.bar_chart(sorted((latest.status_rates if latest else {}).items()),
                                         f"{service}: answers per second per status, latest interval", "/s")}


def _dead_queues(api) -> list[dict[str, Any]]:
    found = []
    for service in SERVICES:
        try:
            queues = api.get(service, "/dead-letters")
        except ServiceError as exc:
            found.append({"service": service, "queue": None, "messages": None, "error": exc.detail or exc.title})
            continue
        found.extend({"service": service, **q} for q in queues)
    return found


@bp.route("/dead-letters")
@roles_required("operator")
def dead_letters() -> str:
    """Every dead-letter queue with messages, each message with its reason; replay per queue."""
    api = client()
    queues = [q for q in _dead_queues(api) if q.get("messages") or q.get("error")]
    for queue in queues:
        if queue.get("queue"):
            queue["letters"] = api.get(queue["service"], f"/dead-letters/{queue['queue']}", limit=10)
    return render_template("operator/dead_letters.html", queues=queues)


@bp.route("/dead-letters/<string:service>/<string:queue>/replay", methods=["POST"])
@roles_required("operator")
def replay(service: str, queue: str):
    """Move a queue's dead letters back to work."""
    if service not in SERVICES:
        return redirect(url_for("operator.dead_letters"))
    done = client().post(service, f"/dead-letters/{queue}/replay", {})
    flash(f"Replayed {done['replayed']} message(s) from {queue}.", "ok")
    return redirect(url_for("operator.dead_letters"))


@bp.route("/keys", methods=["GET", "POST"])
@roles_required("operator")
def keys() -> str:
    """API keys: list, create (the new key is shown once), revoke."""
    api = client()
    created = None
    if request.method == "POST":
        created = api.post("contacts", "/api-keys", {"name": (request.form.get("name") or "").strip(),
                                                     "role": request.form.get("role") or ""})
    listed = api.get("contacts", "/api-keys")
    return render_template("operator/keys.html", keys=sorted(listed, key=lambda k: k.get("created_at") or "",
                                                               reverse=True),
                           created=created, roles=ROLES)


@bp.route("/keys/<string:key_id>/revoke", methods=["POST"])
@roles_required("operator")
def revoke(key_id: str):
    """Revoke a key at once (services forget it within their cache time)."""
    client().call("DELETE", "contacts", f"/api-keys/{key_id}")
    flash(f"Key {key_id} revoked.", "ok")
    return redirect(url_for("operator.keys"))
