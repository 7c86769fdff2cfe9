"""Rows no database could store are rejected with their number and reason; the import goes on."""

from __future__ import annotations

import io
import json

from services.contacts.import_rows import iter_rows


def _items(data: bytes, fmt: str) -> list[tuple[int, bool, str | None]]:
    return [(number, row is not None, reason) for number, row, reason in iter_rows(io.BytesIO(data), fmt, None)]


def test_csv_cells_with_control_characters_reject_their_row_only():
    items = _items(b"external_id,first_name\nok-1,Ann\nbad-2,A\x00nn\nbad-3,\x1b[31mred\nok-4,Bob\n", "csv")
    assert [(n, ok) for n, ok, _ in items] == [(1, True), (2, False), (3, False), (4, True)]
    assert "first_name" in items[1][2] and "U+0000" in items[1][2]
    assert "U+001B" in items[2][2]


def test_json_lines_with_escaped_nul_surrogates_huge_numbers_or_deep_nesting_are_rejected():
    lines = [json.dumps({"external_id": "ok-1"}),
             json.dumps({"external_id": "x\u0000"}),
             json.dumps({"external_id": "s-1", "attributes": {"tier": "\ud800"}}),
             json.dumps({"external_id": "n-1", "attributes": {"score": 2**70}}),
             '{"external_id": "d-1", "attributes": {"a": ' + "[" * 5000 + "]" * 5000 + "}}",
             json.dumps({"external_id": "ok-6"})]
    items = _items("\n".join(lines).encode(), "jsonl")
    assert [(n, ok) for n, ok, _ in items] == [(1, True), (2, False), (3, False), (4, False), (5, False), (6, True)]
    assert "external_id" in items[1][2]
    assert "nested deeper" in items[4][2]
