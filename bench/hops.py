"""Where an event's latency goes, hop by hop, from the timestamps the services store anyway.

For each contact of a latency run: when the event was due to be posted (the probe's clock), when
contacts stored it (`events.received_at`), when campaigns requested the call (`step_sends.requested_at`),
when the gate decided (`decisions.decided_at`) and queued the job (`deliveries.created_at`), when the
adapter created the task (`call_tasks.created_at`), and when the probe saw it. PostgreSQL's `now()`
is the start of the writing transaction, so a hop's figure includes the wait for the batch that
carried it; every database is on the same server, so the instants compare. Read-only.
"""

from __future__ import annotations

from sqlalchemy import Engine, text

from bench.stats import percentile

HOPS = ("posted", "stored", "requested", "decided", "queued", "task", "seen")


def _epochs(engine: Engine, sql: str, **params) -> dict[str, float]:
    with engine.connect() as conn:
        return {row[0]: float(row[1]) for row in conn.execute(text(sql), params)}


def instants(dbs: dict[str, Engine], due: dict[str, float], seen: dict[str, float]) -> dict[str, dict[str, float]]:
    """Per contact, the epoch seconds at which it passed each hop (a hop it has not reached is absent)."""
    contacts = list(due)
    stored = _epochs(dbs["contacts"], "SELECT contact_id, extract(epoch FROM min(received_at)) FROM events "
                                      "WHERE contact_id = ANY(:c) AND type = 'withdrawal' GROUP BY contact_id",
                     c=contacts)
    with dbs["campaigns"].connect() as conn:
        requests = {row[0]: (row[1], float(row[2])) for row in conn.execute(text(
            "SELECT DISTINCT ON (contact_id) contact_id, request_id, extract(epoch FROM requested_at) FROM step_sends "
            "WHERE contact_id = ANY(:c) AND channel = 'call' ORDER BY contact_id, requested_at"), {"c": contacts})}
    by_request = {request_id: contact for contact, (request_id, _) in requests.items()}
    ids = list(by_request)
    channel_hops = {
        "decided": "SELECT request_id, extract(epoch FROM min(decided_at)) FROM decisions "
                   "WHERE request_id = ANY(:r) GROUP BY request_id",
        "queued": "SELECT request_id, extract(epoch FROM created_at) FROM deliveries WHERE request_id = ANY(:r)",
        "task": "SELECT request_id, extract(epoch FROM created_at) FROM call_tasks WHERE request_id = ANY(:r)",
    }
    per_hop = {hop: {by_request[r]: at for r, at in _epochs(dbs["channels"], sql, r=ids).items()}
               for hop, sql in channel_hops.items()}
    result: dict[str, dict[str, float]] = {}
    for contact, at in due.items():
        row = {"posted": at}
        if contact in stored:
            row["stored"] = stored[contact]
        if contact in requests:
            row["requested"] = requests[contact][1]
        for hop in ("decided", "queued", "task"):
            if contact in per_hop[hop]:
                row[hop] = per_hop[hop][contact]
        if contact in seen:
            row["seen"] = seen[contact]
        result[contact] = row
    return result


def breakdown(rows: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """p50/p99/max milliseconds of every hop (previous hop -> this one) over the contacts that passed both."""
    figures = {}
    for before, after in zip(HOPS, HOPS[1:], strict=False):
        spans = [row[after] - row[before] for row in rows.values() if before in row and after in row]
        figures[f"{before}->{after}"] = {"n": len(spans), **{f"p{q}_ms": percentile(spans, q) * 1000
                                                               for q in (50, 99, 100)}}
    return figures


def describe(figures: dict[str, dict[str, float]]) -> str:
    """One line per hop."""
    return "\n".join(f"    {hop:20} n={f['n']:5}  p50 {f['p50_ms']:8.1f} ms  p99 {f['p99_ms']:8.1f} ms  "
                     f"max {f['p100_ms']:8.1f} ms" for hop, f in figures.items())
