"""Reading an import file: raw records in order in the worker, normalisation in batches beside it.

Splitting a file into records (csv.reader, JSON lines) is cheap C work and must run in file order;
normalising a row (email, phone, time zone) is pure Python at ~0.1-0.2 ms a row, the import's
bottleneck. So the worker reads batches of raw records, and `normalised_batches` normalises them
either in-process or in a pool of processes (CONTACTS_IMPORT_PROCESSES), handing them back in
file order: the chunk transactions, resume after the last committed row and the per-row report
are the same either way.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

from services.contacts.domain.importing import (
    MAX_ROW_BYTES,
    ImportRow,
    RowRejected,
    check_csv_header,
    row_from_csv,
    row_from_json_line,
)
from shared.http.json_input import FORBIDDEN_CHARS, nesting_error, refused_values

Item = tuple[int, ImportRow | None, str | None]  # row number, the row or None, the rejection reason
Raw = tuple[int, Any, str | None]  # row number, the CSV record or JSON line, a rejection found while reading


class ImportFailed(Exception):
    """The file as a whole cannot be imported (no header, not UTF-8); the job fails with this reason."""


@dataclass(frozen=True)
class Batch:
    """Raw records of one chunk and what normalising them needs (picklable, for a pool process)."""

    fmt: str
    names: tuple[str, ...]
    phone_region: str | None
    records: list[Raw]


def normalise_batch(batch: Batch) -> list[Item]:
    """Every record of the batch as an accepted row or a rejection with its reason, in order."""
    items: list[Item] = []
    for number, record, error in batch.records:
        if error is not None:
            items.append((number, None, error))
            continue
        try:
            if batch.fmt == "csv":
                row = row_from_csv(number, batch.names, record, batch.phone_region)
                # A CSV cell is a string and normalising never adds a refused character: when the raw
                # record has none (nearly always), the row needs no walk through refused_values.
                items.append((number, row, None) if FORBIDDEN_CHARS.search("\t".join(record)) is None
                             else _screened(row))
            else:
                items.append(_json_item(number, record, batch.phone_region))
        except RowRejected as exc:
            items.append((number, None, str(exc)))
    return items


def _json_item(number: int, line: str, phone_region: str | None) -> Item:
    if len(line) > MAX_ROW_BYTES:
        return number, None, f"a line may be at most {MAX_ROW_BYTES} characters"
    deep = nesting_error(line)  # json.loads would recurse into a RecursionError and stop the job
    if deep:
        return number, None, deep
    return _screened(row_from_json_line(number, line, phone_region))


def _screened(row: ImportRow) -> Item:
    """The row, or its rejection when a value can't be stored (a NUL, a lone surrogate, a 65-bit number)."""
    refused = refused_values(row.values)
    if refused:
        return row.number, None, "; ".join(f"{name}: {reasons[0]}" for name, reasons in sorted(refused.items()))
    return row.number, row, None


def read_batches(raw: BinaryIO, fmt: str, phone_region: str | None, size: int,
                 after: int = 0) -> Iterator[tuple[Batch, int | None]]:
    """Batches of up to `size` raw records after row `after`, each with the file position after it.

    The position is None for the last batch (the exhausted reader has closed the file).
    """
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    try:
        names: tuple[str, ...] = ()
        if fmt == "csv":
            reader: Iterator[Raw] = _csv_records(text, after)
            names = tuple(next(reader)[1])  # the header comes first
        else:
            reader = _json_records(text, after)
        records: list[Raw] = []
        for record in reader:
            records.append(record)
            if len(records) >= size:
                yield Batch(fmt, names, phone_region, records), raw.tell()
                records = []
        if records:
            yield Batch(fmt, names, phone_region, records), None
    except UnicodeDecodeError:
        raise ImportFailed(f"the file is not UTF-8 text (near byte {raw.tell()})") from None


def _csv_records(text: io.TextIOWrapper, after: int) -> Iterator[Raw]:
    """The checked header as (0, names, None), then the numbered records after row `after`."""
    reader = csv.reader(text)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ImportFailed(f"unreadable CSV header: {exc}") from None
    if not header:
        raise ImportFailed("the file is empty; a CSV import needs a header row")
    try:
        yield 0, check_csv_header(header), None
    except ValueError as exc:
        raise ImportFailed(str(exc)) from None
    number = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            number += 1
            if number > after:
                yield number, None, f"unreadable CSV: {exc}"
            continue
        if not record or not any(cell.strip() for cell in record):
            continue  # blank lines are not rows
        number += 1
        if number > after:
            yield number, record, None


def _json_records(text: io.TextIOWrapper, after: int) -> Iterator[Raw]:
    for number, line in enumerate(text, start=1):
        if number > after and line.strip():
            yield number, line, None


def iter_rows(raw: BinaryIO, fmt: str, phone_region: str | None) -> Iterator[Item]:
    """Rows of a CSV or JSON-lines file, one at a time, numbered from 1 (CSV: after the header)."""
    for batch, _ in read_batches(raw, fmt, phone_region, 1000):
        yield from normalise_batch(batch)


def normalised_batches(batches: Iterator[tuple[Batch, int | None]],
                       processes: int) -> Iterator[tuple[list[Item], int | None]]:
    """The batches normalised, in order: in this process, or `processes` at a time in a pool.

    At most two batches per process are in flight, so memory stays flat however large the file.
    The pool starts its processes with `spawn`: the worker has threads (consumers, relay) that a
    fork would copy in whatever state they are.
    """
    if processes <= 1:
        for batch, position in batches:
            yield normalise_batch(batch), position
        return
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))
    pending: deque[tuple[Future[list[Item]], int | None]] = deque()
    try:
        for batch, position in batches:
            pending.append((pool.submit(normalise_batch, batch), position))
            if len(pending) >= 2 * processes:
                future, at = pending.popleft()
                yield future.result(), at
        while pending:
            future, at = pending.popleft()
            yield future.result(), at
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
