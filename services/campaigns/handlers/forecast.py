"""Forecast before launch: what the gate would decide right now for a segment campaign's first send step.

Two steps, so no database connection is held while other services answer: `forecast_target` reads the
campaign in a (read-only) unit of work and says what is forecast; `forecast_segment` pages the segment's
members from the contacts service (`SegmentSource`, as a broadcast does) and asks the channels service's
gate (`GateForecast`, `POST /forecast`) in chunks of up to 5,000, passing each answer's `capacity_taken` to the
next chunk and the same `at` to all, and adds the answers up. Nothing is enrolled, requested or reserved.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from services.campaigns.domain.forecast import ForecastStep, Totals, chunks, first_send_step
from services.campaigns.gate_forecast import CHUNK, GateForecast, GateUnavailable
from services.campaigns.segments import PAGE_SIZE, SegmentSource, SegmentUnavailable
from services.campaigns.unit_of_work import CampaignsUnitOfWork
from shared.errors import Conflict, NotFound, Unavailable

_AHEAD = 10  # pages read ahead of the gate (10,000 members)
MAX_TIME_ZONE = 64  # what channels accepts; a longer value is no IANA name anyway


def forecast_target(uow: CampaignsUnitOfWork, campaign_id: str) -> tuple[str, ForecastStep]:
    """(segment id, first send step) of the campaign's current definition; 404 unknown, 409 not forecastable."""
    row = uow.campaigns.get(campaign_id)
    if row is None:
        raise NotFound(f"no campaign {campaign_id}")
    definition = row["definition"]
    entry = definition.get("entry") or {}
    if entry.get("type") != "segment":
        raise Conflict(f"campaign {campaign_id} enters contacts on {entry.get('type')!r} events, one at a time; "
                       "only a segment campaign has an audience to forecast", title="Not a segment campaign")
    step = first_send_step(definition)
    if step is None:
        raise Conflict(f"campaign {campaign_id} has no send step reachable from its start", title="Nothing to send")
    return entry["segment_id"], step


def forecast_segment(campaign_id: str, segment_id: str, step: ForecastStep, source: SegmentSource,
                     gate: GateForecast, now: datetime, chunk: int = CHUNK) -> dict[str, Any]:
    """Ask the gate about every member of the segment at `now`; the summed counts. 503 when a service fails."""
    started = time.perf_counter()  # an interval, not the time of day: `now` is the caller's
    totals = Totals()
    message = step.message(campaign_id, now)
    try:
        for batch in chunks(_members(source, segment_id), chunk):
            totals.add(gate.forecast(message, [_contact(m) for m in batch], now, totals.capacity_taken))
    except SegmentUnavailable as exc:
        raise Unavailable(f"the contacts service did not list segment {segment_id}: {exc}") from exc
    except GateUnavailable as exc:
        raise Unavailable(f"the channels service did not forecast: {exc}") from exc
    return {"campaign_id": campaign_id, "segment_id": segment_id, "members": totals.evaluated,
            "step": {"step_id": step.step_id, "channel": step.channel, "category": step.category,
                     "priority": step.priority, "topic": step.topic},
            "by_outcome": totals.by_outcome(), "by_rule": totals.rules(), "evaluated_at": now,
            "elapsed_ms": round((time.perf_counter() - started) * 1000)}


def _members(source: SegmentSource, segment_id: str) -> Iterator[Mapping[str, Any]]:
    """The segment's members, read ahead: a thread pages contacts while the gate decides the last chunk (the
    two services work at once; at most `_AHEAD` pages wait in memory)."""
    pages: queue.Queue[Any] = queue.Queue(maxsize=_AHEAD)
    stop = threading.Event()

    def read() -> None:
        after: str | None = None
        try:
            while not stop.is_set():
                page = source.page(segment_id, after, PAGE_SIZE)
                pages.put(page.items)
                if page.next_after is None:
                    break
                after = page.next_after
            pages.put(None)
        except Exception as exc:  # noqa: BLE001 - handed to the reading side, which raises it
            pages.put(exc)

    reader = threading.Thread(target=read, name="forecast-members", daemon=True)
    reader.start()
    try:
        while (items := pages.get()) is not None:
            if isinstance(items, Exception):
                raise items
            yield from items
    finally:
        stop.set()
        while reader.is_alive():  # let a reader blocked on a full queue see `stop`
            with contextlib.suppress(queue.Empty):
                pages.get_nowait()
            reader.join(0.05)


def _contact(member: Mapping[str, Any]) -> dict[str, Any]:
    time_zone = member.get("time_zone")
    ok = isinstance(time_zone, str) and 0 < len(time_zone) <= MAX_TIME_ZONE
    return {"contact_id": member["contact_id"], "time_zone": time_zone if ok else None}
