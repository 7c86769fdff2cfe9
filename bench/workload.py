"""The benchmark's contacts: a CSV written to disk row by row, streamed through POST /imports.

Every row carries an email, a phone number and a time zone, so the import pays the full
normalisation; `normalisation_rate` measures that normalisation alone on one core (the importer's
own row reader over the same kind of rows), to show how far the import is from its limit.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

from bench.pipeline import check, scalar
from tests.support import wait_for
from tests.system import System

HEADER = "external_id,email,phone,first_name,time_zone,cohort\n"
ZONES = ("Europe/London", "Europe/Berlin", "America/New_York", "Asia/Tokyo")


def csv_row(cohort: str, n: int, phone: int) -> str:
    """Contact `n` of a cohort: unique external id and email, UK mobile number number `phone`."""
    return (f"{cohort}-{n},{cohort}{n}@example.com,+4477{phone % 100_000_000:08d},Person{n},"
            f"{ZONES[n % len(ZONES)]},{cohort}\n")


def write_csv(path: Path, cohorts: dict[str, int]) -> int:
    """Write the cohorts' rows to `path` (never all in memory); return the number of rows."""
    rows = 0
    phone_offset = 0
    with open(path, "w", encoding="utf-8") as out:
        out.write(HEADER)
        for cohort, count in cohorts.items():
            for i in range(count):
                # phone numbers differ across cohorts too: a shared number would merge two contacts
                out.write(csv_row(cohort, i, phone_offset + i))
            phone_offset += count
            rows += count
    return rows


def import_file(system: System, path: Path, timeout: float) -> dict:
    """POST the file to /imports as a stream and wait for the job; return the final job and its seconds."""
    session = system.session()
    started = time.perf_counter()
    with open(path, "rb") as body:
        job = check(session.post(system.url("contacts", "/imports"), data=body,
                                 headers={"Content-Type": "text/csv"}, timeout=600), 202)

    def done() -> dict | None:
        state = check(session.get(system.url("contacts", f"/imports/{job['id']}"), timeout=30), 200)
        if state["status"] == "failed":
            raise AssertionError(f"import failed: {state}")
        return state if state["status"] == "done" else None

    state = wait_for(done, timeout=timeout, interval=0.25, message="the import")
    return {**state, "seconds": time.perf_counter() - started, "started": started}


def wait_known(dbs: dict, total: int, timeout: float) -> dict[str, float]:
    """Wait until channels and campaigns hold `total` contacts; return when each got there (perf_counter)."""
    queries = {"channels": "SELECT count(*) FROM contact_policy", "campaigns": "SELECT count(*) FROM contacts"}
    reached: dict[str, float] = {}

    def all_known() -> bool:
        for service, sql in queries.items():
            if service not in reached and scalar(dbs[service], sql) >= total:
                reached[service] = time.perf_counter()
        return len(reached) == len(queries)

    wait_for(all_known, timeout=timeout, interval=1.0, message="channels and campaigns to learn every contact")
    return reached


def normalisation_rate(seconds: float = 2.0, rows: int = 20_000) -> float:
    """Rows/s of the importer's CSV reader with full normalisation (email, phone, time zone), one core."""
    from services.contacts.import_rows import iter_rows

    text = (HEADER + "".join(csv_row("norm", i, i) for i in range(rows))).encode()
    for _ in iter_rows(io.BytesIO(text[:2000]), "csv", None):
        pass  # warm up: time zone list and phone metadata load on first use
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _number, row, error in iter_rows(io.BytesIO(text), "csv", None):
            if row is None:
                raise AssertionError(f"the normalisation rejected a benchmark row: {error}")
            done += 1
    return done / (time.perf_counter() - started)
