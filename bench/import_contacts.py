"""Bulk contact import benchmark: N rows of CSV through the real import code path into PostgreSQL.

    python bench/import_contacts.py --rows 100000

Writes the CSV to disk row by row (about 10% duplicates of earlier rows, about 0.5% bad rows),
copies it in blocks as the API does (`save_upload`), queues the job and runs it with the worker's
`ImportRunner` against the database touchpoint_bench_contacts (recreated each run). Prints plain
`name: value` lines: rows/s of the import and the peak RSS of this process, which must stay flat
as N grows because nothing holds the file in memory.
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.contacts.handlers.imports import queue_job, save_upload  # noqa: E402
from services.contacts.importer import ImportRunner  # noqa: E402
from services.contacts.repository import TABLES, contacts  # noqa: E402
from services.contacts.service import DEFINITION  # noqa: E402
from services.contacts.unit_of_work import ContactsUnitOfWorkFactory  # noqa: E402
from shared.config import Settings, default_database_url  # noqa: E402
from shared.db.engine import drop_database, make_engine  # noqa: E402
from shared.db.migrate import migrate  # noqa: E402

TIERS = ("bronze", "silver", "gold", "platinum")
ZONES = ("Europe/London", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "")


def write_csv(path: Path, rows: int, seed: int = 7) -> dict[str, int]:
    """Write `rows` data rows; return how many are duplicates and bad rows by construction."""
    rng = random.Random(seed)
    duplicates = bad = 0
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["external_id", "email", "phone", "first_name", "last_name", "locale", "time_zone",
                         "tier", "balance"])
        fresh = 0
        for _ in range(rows):
            roll = rng.random()
            if roll < 0.005:
                bad += 1
                writer.writerow(rng.choice([
                    ["", "not-an-email", "", "Bad", "Row", "", "", "", ""],
                    [f"bad-{fresh}", "", "", "", "", "", "Mars/Olympus", "", ""],
                    ["", "", "12345", "", "", "", "", "", ""],
                ]))
                continue
            if roll < 0.105 and fresh:
                duplicates += 1
                n = rng.randrange(fresh)  # an earlier person again, by external_id or by email
                key = [f"C{n:09d}", ""] if rng.random() < 0.5 else ["", f"person{n}@example.com"]
                writer.writerow([*key, "", "", "", "", "", rng.choice(TIERS), rng.randrange(100_000)])
                continue
            n = fresh
            fresh += 1
            writer.writerow([f"C{n:09d}", f"person{n}@example.com", f"+447700{n % 1_000_000:06d}" if n % 2 else "",
                             f"First{n}", f"Last{n}", "en-GB", rng.choice(ZONES), rng.choice(TIERS),
                             rng.randrange(100_000)])
    return {"duplicates": duplicates, "bad": bad}


def main() -> int:
    """Run the benchmark once and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=0,
                        help="processes normalising rows (CONTACTS_IMPORT_PROCESSES); 0: the importer's default")
    parser.add_argument("--database-url", default=default_database_url("touchpoint_bench_contacts"))
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-contacts-"))
    source = workdir / "contacts.csv"
    started = time.perf_counter()
    made = write_csv(source, args.rows)
    print(f"generated_rows: {args.rows}")
    print(f"generated_duplicates: {made['duplicates']}")
    print(f"generated_bad_rows: {made['bad']}")
    print(f"file_bytes: {source.stat().st_size}")
    print(f"generate_seconds: {time.perf_counter() - started:.1f}")

    drop_database(args.database_url)
    migrate(DEFINITION.migrations_dir, args.database_url)
    engine = make_engine(args.database_url)
    settings = Settings(service="contacts", database_url=args.database_url,
                        extra={"import_dir": str(workdir), "import_chunk_size": str(args.chunk_size),
                               **({"import_processes": str(args.processes)} if args.processes else {})})
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    started = time.perf_counter()
    with open(source, "rb") as upload:
        path, size = save_upload(upload, workdir, "csv", 1 << 40)
    source.unlink()
    with ContactsUnitOfWorkFactory(engine)() as uow:
        queue_job(uow, path, size, "csv", None)
    runner = ImportRunner(settings, engine)
    job = runner.claim()
    runner.process(job)
    seconds = time.perf_counter() - started

    with engine.connect() as conn:
        from services.contacts.repository import import_jobs

        done = conn.execute(select(import_jobs)).one()
        stored = conn.execute(select(func.count()).select_from(contacts)).scalar_one()
        outbox = conn.execute(select(func.count()).select_from(TABLES.outbox)).scalar_one()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"status: {done.status}{' ' + done.error if done.error else ''}")
    print(f"rows_processed: {done.rows_processed}")
    print(f"created: {done.created}")
    print(f"updated: {done.updated}")
    print(f"rejected: {done.rejected}")
    print(f"contacts_in_db: {stored}")
    print(f"outbox_rows: {outbox}")
    print(f"import_seconds: {seconds:.1f}")
    print(f"rows_per_second: {done.rows_processed / seconds:.0f}")
    print(f"normalising_processes: {runner.processes}")
    print(f"peak_rss_mb_before_import: {rss_before / 1024:.1f}")
    print(f"peak_rss_mb: {peak / 1024:.1f}")
    engine.dispose()
    return 0 if done.status == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
