"""Everyday commands: they talk to the services' HTTP APIs with an API key."""

from __future__ import annotations

import argparse
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from tools.cli import output
from tools.cli.client import Api, CliError

IMPORT_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
CONTENT_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson"}
POLL_SECONDS = 0.5
FORECAST_TIMEOUT = 300  # a forecast of a large segment takes seconds, more on a loaded machine
PROOF_TIMEOUT = 120  # a proof is sent while the API answers: one provider round per seed address


def _api(service: str, args: argparse.Namespace) -> Api:
    return Api(service, args.key)


def _print(args: argparse.Namespace, body: Any, render=None) -> int:
    print(output.dumps(body) if getattr(args, "json", False) or render is None else render(body))
    return 0


def import_format(path: Path, given: str | None) -> str:
    """The import format: `--format`, else from the file's extension."""
    if given:
        return given
    try:
        return IMPORT_FORMATS[path.suffix.lower()]
    except KeyError:
        raise CliError(f"cannot tell the format of {path.name}: use a .csv or .jsonl file or pass --format") from None


def contacts_import(args: argparse.Namespace) -> int:
    """Upload a CSV / JSON-lines file (streamed from disk), then follow the job to its report."""
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    fmt = import_format(path, args.format)
    api = _api("contacts", args)
    params = {"format": fmt} | ({"phone_region": args.phone_region} if args.phone_region else {})
    with path.open("rb") as body:  # a file object: requests sends it block by block
        job = api.post("/imports", params=params, data=body, headers={"Content-Type": CONTENT_TYPES[fmt]},
                       timeout=None)
    print(f"uploaded {path.name} ({path.stat().st_size:,} bytes): import {job['id']}")
    if not args.wait:
        print(f"follow it with: GET /imports/{job['id']}")
        return 0
    job = follow_import(api, job, quiet=args.quiet)
    rejections = []
    if job.get("rejected"):
        rejections = (api.get(f"/imports/{job['id']}/rejections", params={"limit": 10}) or {}).get("items", [])[:10]
    print(output.import_report(job, rejections))
    return 0 if job.get("status") == "done" else 1


def follow_import(api: Api, job: dict, quiet: bool = False, poll: float = POLL_SECONDS) -> dict:
    """Poll an import job until done or failed, with a progress bar over the bytes read."""
    with tqdm(total=100, unit="%", desc="importing", disable=quiet,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}") as bar:
        while True:
            fraction = float(job.get("progress") or 0.0)
            bar.n = round(min(fraction, 1.0) * 100, 1)
            bar.set_postfix_str(f"{job.get('rows_processed', 0):,} rows, {job.get('status')}", refresh=True)
            if job.get("status") in ("done", "failed"):
                return job
            time.sleep(poll)
            job = api.get(f"/imports/{job['id']}")


def load_definition(path: Path, what: str = "campaign definition") -> dict:
    """A document (by default a campaign definition) from a YAML or JSON file (`.json`: JSON only)."""
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        body = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise CliError(f"{path.name} is not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}"
                       ) from exc
    if not isinstance(body, dict):
        raise CliError(f"{path.name} must hold one {what} (a mapping)")
    return body


def load_patch(given: str) -> dict:
    """A JSON merge patch: the path of a JSON/YAML file, or the JSON object itself on the command line."""
    if given.lstrip().startswith("{"):
        try:
            return json.loads(given)  # text starting with { is an object or not JSON at all
        except ValueError as exc:
            raise CliError(f"the patch is not valid JSON: {exc}") from exc
    return load_definition(Path(given), "policy patch")


def policy(args: argparse.Namespace) -> int:
    """policy show|put|patch: the gate's contact policy (caps, gap, quiet hours, opt-in, control group, capacity)."""
    api = _api("channels", args)
    if args.policy_command == "show":
        return _print(args, api.get("/policy"), output.policy)
    params = {"allow_empty": "true"} if args.allow_empty else {}
    if args.policy_command == "put":
        document = load_definition(Path(args.file), "policy document")
        document.pop("version", None)  # the output of `policy show --json` may be edited and put back as is
        saved = api.put("/policy", json=document, params=params)
    else:
        saved = api.patch("/policy", json=load_patch(args.patch), params=params)
    print(f"saved policy version {saved.get('version')}")
    return _print(args, saved, output.policy)


def gate_forecast(args: argparse.Namespace) -> int:
    """forecast FILE: what the gate would decide now for one message to the listed contacts (nothing reserved)."""
    body = load_definition(Path(args.file), "forecast request")
    if args.at:
        body["at"] = args.at
    answer = _api("channels", args).post("/forecast", json=body, timeout=FORECAST_TIMEOUT)
    return _print(args, answer, output.gate_forecast)


def campaign(args: argparse.Namespace) -> int:
    """campaign create|activate|pause|resume|archive|list|show|report|forecast|proof|approve."""
    api = _api("campaigns", args)
    action = args.campaign_command
    if action == "create":
        created = api.post("/campaigns", json=load_definition(Path(args.file)))
        print(f"created campaign {created['campaign_id']} ({created.get('name')}), status {created.get('status')}")
        if args.activate:
            created = api.post(f"/campaigns/{created['campaign_id']}/activate")
            print(f"activated: status {created.get('status')}, version {created.get('version')}")
        return 0
    if action in ("activate", "pause", "resume", "archive"):
        changed = api.post(f"/campaigns/{args.id}/{action}")
        print(f"campaign {args.id}: status {changed.get('status')}")
        return 0
    if action == "list":
        params = {"status": args.status} if args.status else {}
        return _print(args, api.get("/campaigns", params=params), output.campaigns)
    if action == "show":
        return _print(args, api.get(f"/campaigns/{args.id}"))
    if action == "forecast":
        return _print(args, api.post(f"/campaigns/{args.id}/forecast", timeout=FORECAST_TIMEOUT), output.forecast)
    if action == "proof":
        body = {k: v for k, v in (("contact_id", args.contact), ("step_id", args.step)) if v}
        return _print(args, api.post(f"/campaigns/{args.id}/proof", json=body, timeout=PROOF_TIMEOUT), output.proof)
    if action == "approve":
        approved = api.post(f"/campaigns/{args.id}/approval",
                            json={"revision": args.revision} if args.revision is not None else {})
        approval = approved.get("approval") or {}
        print(f"campaign {args.id}: revision {approval.get('revision')} approved by {approval.get('approved_by_name')} "
              f"({approval.get('approved_by')})")
        return 0
    return _print(args, api.get(f"/campaigns/{args.id}/report"), output.campaign_report)


def broadcast_trigger(args: argparse.Namespace) -> int:
    """Fire a broadcast schedule now; follow the campaign's enrolled count until it stops growing."""
    api = _api("scheduler", args)
    api.post(f"/schedules/{args.schedule_id}/trigger")
    print(f"triggered {args.schedule_id}")
    campaign_id = args.campaign or (args.schedule_id.split(":", 1)[1]
                                    if args.schedule_id.startswith("campaign:") else None)
    if args.no_wait or not campaign_id:
        if not campaign_id and not args.no_wait:
            print("not a campaign schedule (campaign:<id>); pass --campaign ID to follow the enrollments")
        return 0
    report = follow_broadcast(_api("campaigns", args), campaign_id, settle=args.settle, quiet=args.quiet)
    print(output.campaign_report(report))
    return 0


def follow_broadcast(api: Api, campaign_id: str, settle: float = 5.0, quiet: bool = False,
                     poll: float = POLL_SECONDS) -> dict:
    """Poll the report until the enrolled count has not grown for `settle` seconds (after it first grew)."""
    report = api.get(f"/campaigns/{campaign_id}/report")
    start = last = (report.get("enrollments") or {}).get("enrolled", 0)
    still_since = time.monotonic()
    grew = False
    with tqdm(desc="enrolled", unit=" contacts", initial=0, disable=quiet) as bar:
        while True:
            time.sleep(poll)
            report = api.get(f"/campaigns/{campaign_id}/report")
            enrolled = (report.get("enrollments") or {}).get("enrolled", 0)
            if enrolled != last:
                bar.update(enrolled - last)
                last, still_since, grew = enrolled, time.monotonic(), True
            # Before the first page lands, allow a longer quiet period: the run may still be starting.
            if time.monotonic() - still_since >= (settle if grew else settle * 3):
                break
    if not quiet:
        print(f"{last - start:,} newly enrolled")
    return report


def post_event(args: argparse.Namespace) -> int:
    """event [post] CONTACT_ID TYPE [JSON]: post one event to contacts."""
    words = list(args.words)
    if words and words[0] == "post":
        words = words[1:]
    if len(words) not in (2, 3):
        raise CliError("usage: touchpoint event post CONTACT_ID TYPE ['{\"key\": \"value\"}']")
    contact_id, event_type, raw = words[0], words[1], words[2] if len(words) == 3 else "{}"
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise CliError(f"event data is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CliError("event data must be a JSON object")
    body = event_body(contact_id, event_type, data)
    return _print(args, _api("contacts", args).post("/events", json=body), output.event_results)


def event_body(contact_id: str, event_type: str, data: dict, event_id: str | None = None) -> dict:
    """The body of POST /events for one event happening now."""
    return {"event_id": event_id or str(uuid.uuid4()), "contact_id": contact_id, "type": event_type,
            "occurred_at": datetime.now(UTC).isoformat(), "data": data}


def contact(args: argparse.Namespace) -> int:
    """contact show|timeline ID."""
    api = _api("contacts", args)
    if args.contact_command == "show":
        return _print(args, api.get(f"/contacts/{args.id}"))
    return timeline(args, api, args.id)


def timeline(args: argparse.Namespace, api: Api | None = None, contact_id: str | None = None) -> int:
    """A contact's timeline, newest first."""
    api = api or _api("contacts", args)
    page = api.get(f"/contacts/{contact_id or args.contact_id}/timeline", params={"limit": args.limit})
    return _print(args, page, lambda p: output.timeline(p.get("items", [])))


def decisions(args: argparse.Namespace) -> int:
    """The gate's decisions for a contact."""
    found = _api("channels", args).get("/decisions", params={"contact_id": args.contact_id})
    return _print(args, found, output.decisions)


def audit(args: argparse.Namespace) -> int:
    """A service's audit trail, newest first, with the filters given (operator key)."""
    params = {name: getattr(args, name) for name in ("actor", "action", "entity_type", "entity_id", "since", "until")
              if getattr(args, name) is not None}
    page = _api(args.service, args).get("/audit", params={**params, "limit": args.limit})
    return _print(args, page, lambda p: output.audit(p.get("items", [])))


def tasks(args: argparse.Namespace) -> int:
    """Call-center tasks (agent key)."""
    found = _api("channels", args).get("/tasks", params={"status": args.status})
    return _print(args, found, lambda items: output.table(
        [[t["id"], t["priority"], t["status"], t["contact_id"], (t.get("script") or {}).get("body")] for t in items],
        ("id", "priority", "status", "contact", "script"), max_width=70) if items else "no tasks")


def offers(args: argparse.Namespace) -> int:
    """A contact's current web offers (channel_owner or agent key)."""
    found = _api("channels", args).get(f"/contacts/{args.contact_id}/offers")
    return _print(args, found, lambda items: output.table(
        [[o["id"], o["priority"], o["status"], (o.get("content") or {}).get("body")] for o in items],
        ("id", "priority", "status", "offer"), max_width=70) if items else "no offers")
