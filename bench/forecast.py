"""Campaign forecast benchmark: a segment of ~100,000 members forecast through the real services.

    .venv/bin/python bench/forecast.py --rows 112000 [--runs 3]

Imports `--rows` CSV rows into a fresh contacts database through the import code path
(bench/import_contacts.py; about 10 % of the rows are duplicates and 0.5 % bad, so 112,000 rows make
about 100,000 contacts), creates a segment of all of them, gives the channels database a policy (the
shipped defaults plus an SMS capacity rule) and facts (every 10th contact unsubscribed, every 20th
touched yesterday), then serves contacts and channels with gunicorn as a deployment does (2 workers x
4 threads each) and runs the campaigns forecast use case (`handlers.forecast.forecast_segment`, the
code behind `POST /campaigns/{id}/forecast`, over HTTP to both) `--runs` times. Prints `name: value`
lines: members, the counts, and the seconds of each run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from sqlalchemy import text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.import_contacts import write_csv  # noqa: E402
from bench.pipeline import bench_database, make_keys  # noqa: E402
from services.campaigns.domain.forecast import first_send_step  # noqa: E402
from services.campaigns.gate_forecast import HttpGateForecast  # noqa: E402
from services.campaigns.handlers.forecast import forecast_segment  # noqa: E402
from services.campaigns.segments import HttpSegmentSource  # noqa: E402
from services.contacts.handlers.imports import queue_job, save_upload  # noqa: E402
from services.contacts.importer import ImportRunner  # noqa: E402
from services.contacts.service import DEFINITION as CONTACTS  # noqa: E402
from services.contacts.unit_of_work import ContactsUnitOfWorkFactory  # noqa: E402
from shared.auth.keys import MIGRATIONS_DIR as AUTH_MIGRATIONS  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.db.engine import make_engine  # noqa: E402
from tests.support import AMQP_URL, wait_for  # noqa: E402
from tests.system import free_port  # noqa: E402

CHANNELS_MIGRATIONS = REPO / "services" / "channels" / "migrations"
DEFINITION = {"name": "bench", "category": "marketing", "priority": 5,
              "entry": {"type": "segment", "segment_id": "", "schedule": {"at": "2026-03-05T09:00:00+00:00"}},
              "steps": [{"id": "hello", "type": "send", "channel": "sms", "template": {"body": "Hi"}}]}


def import_contacts(url: str, rows: int) -> None:
    """`rows` CSV rows through the importer into the contacts database at `url`."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-forecast-"))
    source = workdir / "contacts.csv"
    write_csv(source, rows)
    engine = make_engine(url)
    with open(source, "rb") as upload:
        path, size = save_upload(upload, workdir, "csv", 1 << 40)
    source.unlink()
    with ContactsUnitOfWorkFactory(engine)() as uow:
        queue_job(uow, path, size, "csv", None)
    runner = ImportRunner(Settings(service="contacts", database_url=url, extra={"import_dir": str(workdir)}), engine)
    runner.process(runner.claim())
    engine.dispose()


def seed_channels(channels_url: str, contacts_url: str, now: datetime) -> None:
    """Every 10th contact unsubscribed, every 20th with a marketing email yesterday (weekly cap 3: not capped
    alone, but the 4-hour gap does not apply either; the SMS cap of 1 a day does not count emails)."""
    with make_engine(contacts_url).connect() as conn:
        ids = conn.execute(text("SELECT id::text FROM contacts ORDER BY id")).scalars().all()
    with make_engine(channels_url).begin() as conn:
        conn.execute(text("INSERT INTO suppressions (contact_id, suppression_id, scope, value, reason, active, "
                          "changed_at) SELECT unnest(CAST(:ids AS text[])), 's-' || unnest(CAST(:ids AS text[])), "
                          "'global', NULL, 'unsubscribed', true, :now"), {"ids": ids[::10], "now": now})
        conn.execute(text("INSERT INTO touches (request_id, contact_id, channel, category, at, state) "
                          "SELECT 'r-' || c, c, 'sms', 'marketing', :at, 'sent' FROM unnest(CAST(:ids AS text[])) c"),
                     {"ids": ids[5::20], "at": now - timedelta(hours=20)})


def serve(module: str, env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    """gunicorn with the deployment's settings (2 workers x 4 threads)."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "gunicorn", "-c", "python:shared.http.gunicorn_conf", "--workers", "2", "--threads",
         "4", "--bind", f"127.0.0.1:{port}", f"services.{module}:create_app()"],
        cwd=REPO, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115


def main() -> int:
    """Build the data once, forecast `--runs` times, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=112_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    auth_url = bench_database("forecast_auth", AUTH_MIGRATIONS)
    keys = make_keys(auth_url)
    contacts_db = bench_database("forecast_contacts", CONTACTS.migrations_dir)
    channels_db = bench_database("forecast_channels", CHANNELS_MIGRATIONS)
    started = time.perf_counter()
    import_contacts(contacts_db, args.rows)
    print(f"import_seconds: {time.perf_counter() - started:.1f}")
    now = datetime.now(UTC)
    seed_channels(channels_db, contacts_db, now)
    env = {**os.environ, "AUTH_DATABASE_URL": auth_url, "CONTACTS_DATABASE_URL": contacts_db,
           "CHANNELS_DATABASE_URL": channels_db, "AMQP_URL": AMQP_URL, "PYTHONPATH": str(REPO)}
    ports = {"contacts": free_port(), "channels": free_port()}
    logs = Path(tempfile.mkdtemp(prefix="bench-forecast-logs-"))
    procs = [serve(name, env, port, logs / f"{name}.log") for name, port in ports.items()]
    try:
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        for url in urls.values():
            wait_for(lambda url=url: _up(url), timeout=60, message=f"{url} did not start")
        session = requests.Session()
        session.headers["X-API-Key"] = keys["operator"]
        policy = session.get(f"{urls['channels']}/policy").json()
        policy.pop("version")
        policy["capacity"] = [{"id": "sms-hourly", "channel": "sms", "category": None, "limit": 20000,
                               "window": "hour", "time_zone": "Europe/Amsterdam", "when_full": "defer"}]
        policy["opt_in_channels"] = []
        session.put(f"{urls['channels']}/policy", json=policy).raise_for_status()
        segment = session.post(f"{urls['contacts']}/segments", json={
            "name": "everyone", "definition": "tier == 'bronze' or tier == 'silver' or tier == 'gold' or tier == 'platinum'"})
        segment.raise_for_status()
        segment_id = segment.json()["id"]
        step = first_send_step({**DEFINITION, "entry": {**DEFINITION["entry"], "segment_id": segment_id}})
        assert step is not None
        for run in range(args.runs):
            source = HttpSegmentSource(urls["contacts"], keys["marketer"])
            gate = HttpGateForecast(urls["channels"], keys["marketer"])
            started = time.perf_counter()
            answer = forecast_segment("bench", segment_id, step, source, gate, datetime.now(UTC))
            seconds = time.perf_counter() - started
            print(f"run_{run + 1}_seconds: {seconds:.2f}")
            print(f"run_{run + 1}_members: {answer['members']}")
        print(f"by_outcome: {answer['by_outcome']}")
        for row in answer["by_rule"]:
            print(f"by_rule: {row['outcome']} {row['reason']} {row['rule_id']} {row['count']}")
        print(f"load_average: {os.getloadavg()}")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
    return 0


def _up(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code in (200, 503)
    except requests.RequestException:
        return False


if __name__ == "__main__":
    sys.exit(main())
