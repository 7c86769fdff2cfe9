"""Batched reading of an import file: the same rows in the same order, in-process or in a pool."""

from __future__ import annotations

import io

import pytest

from services.contacts.import_rows import ImportFailed, iter_rows, normalised_batches, read_batches

CSV = (b"external_id,email,phone,time_zone,tier\n"
       + b"".join(b"c-%d,p%d@Example.COM,+4477%08d,Europe/London,gold\n" % (i, i, i) for i in range(1, 26))
       + b"\n,not-an-email,,,\nc-27,,,Mars/Olympus,\n\"unclosed,x\n")


def _batches(data: bytes, fmt: str = "csv", size: int = 4, after: int = 0, processes: int = 1):
    return list(normalised_batches(read_batches(io.BytesIO(data), fmt, None, size, after=after), processes))


def test_batches_hold_every_row_in_order_with_their_rejections():
    batches = _batches(CSV)
    items = [item for chunk, _ in batches for item in chunk]
    assert [n for n, _, _ in items] == list(range(1, 29))  # the blank line is not a row
    assert all(len(chunk) == 4 for chunk, _ in batches[:-1])
    assert all(isinstance(position, int) for _, position in batches[:-1])
    assert _batches(CSV, size=5)[-1][1] is None  # a short last batch: the reader has closed the file
    assert items[0][1].values["email"] == "p1@example.com" and items[0][1].values["phone"] == "+447700000001"
    assert [n for n, row, _ in items if row is None] == [26, 27]  # row 28's open quote swallows the rest
    assert "email" in items[25][2] and "time_zone" in items[26][2]
    assert items == list(iter_rows(io.BytesIO(CSV), "csv", None))


def test_reading_resumes_after_the_last_committed_row():
    items = [item for chunk, _ in _batches(CSV, after=10) for item in chunk]
    assert [n for n, _, _ in items] == list(range(11, 29))


def test_a_pool_of_processes_gives_exactly_the_in_process_answer():
    assert [chunk for chunk, _ in _batches(CSV, processes=2)] == [chunk for chunk, _ in _batches(CSV)]


def test_json_lines_are_numbered_by_line_and_blank_lines_skipped():
    data = b'{"external_id": "a"}\n\n{"email": "x"}\n[1]\n'
    items = [item for chunk, _ in _batches(data, fmt="jsonl") for item in chunk]
    assert [(n, row is not None) for n, row, _ in items] == [(1, True), (3, False), (4, False)]


def test_a_bad_header_fails_the_whole_file():
    with pytest.raises(ImportFailed):
        _batches(b"nickname\nx\n")
