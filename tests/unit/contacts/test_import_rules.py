"""Import rows and chunk deduplication (no I/O)."""

from __future__ import annotations

import itertools

import pytest

from services.contacts.domain.importing import (
    ContactIndex,
    KnownContact,
    RowRejected,
    check_csv_header,
    plan_chunk,
    row_from_csv,
    row_from_json_line,
)

HEADER = check_csv_header(["External_ID", "email", "phone", "first_name", "tier"])


def _ids():
    counter = itertools.count(1)
    return lambda: f"new-{next(counter)}"


def test_csv_row_values_and_attributes():
    row = row_from_csv(1, HEADER, ["X1", "a@EXAMPLE.com", "", "Ann", "gold"], None)
    assert row.values == {"external_id": "X1", "email": "a@example.com", "first_name": "Ann",
                          "attributes": {"tier": "gold"}}


@pytest.mark.parametrize(("record", "word"), [
    (["", "", "", "Ann", "gold"], "at least one"),
    (["X", "bad", "", "", ""], "email"),
    (["X", "", "", "", "", "extra"], "header"),
])
def test_bad_csv_rows_are_rejected_with_a_reason(record, word):
    with pytest.raises(RowRejected, match=word):
        row_from_csv(1, HEADER, record, None)


@pytest.mark.parametrize("header", [["name"], ["email", "email"], ["email", "bad col"], ["email", "id"]])
def test_unusable_headers(header):
    with pytest.raises(ValueError):
        check_csv_header(header)


def test_json_lines():
    assert row_from_json_line(1, '{"phone": "+4930123456", "attributes": {"a": 1}}', None).values == {
        "phone": "+4930123456", "attributes": {"a": 1}}
    for line, word in [("[1]", "object"), ("{", "JSON"), ('{"email": "a@b.co", "x": 1}', "unknown")]:
        with pytest.raises(RowRejected, match=word):
            row_from_json_line(1, line, None)


def _row(n, **values):
    return row_from_json_line(n, __import__("json").dumps(values), None)


def test_dedup_by_external_id_then_email_then_phone():
    existing = [KnownContact("c1", "E1", "one@example.com", None), KnownContact("c2", None, "two@example.com", "+4930123456")]
    rows = [
        _row(1, external_id="E1", first_name="A"),               # c1 by external_id
        _row(2, email="two@example.com", external_id="E2"),      # c2 by email, gains E2
        _row(3, external_id="E2", last_name="B"),                # c2 again, by its new external_id
        _row(4, phone="+4930123456"),                            # c2 by phone
        _row(5, email="one@example.com", external_id="OTHER"),   # c1's email, another person: rejected
        _row(6, external_id="OTHER", attributes={"x": 1}),       # a new contact
        _row(7, email="new@example.com"),                        # new
    ]
    plan = plan_chunk(rows, ContactIndex(existing), _ids())
    assert (plan.created, plan.updated) == (2, 4)
    assert plan.rejected == [(5, "email: already used by contact c1 (external_id E1)")]
    assert set(plan.upserts) == {"c1", "c2", "new-1", "new-2"}
    assert plan.upserts["c2"] == {"email": "two@example.com", "external_id": "E2", "last_name": "B",
                                  "phone": "+4930123456"}
    assert plan.upserts["new-1"] == {"external_id": "OTHER", "attributes": {"x": 1}}
    assert plan.created_ids == {"new-1", "new-2"}


def test_attributes_of_duplicate_rows_merge():
    rows = [_row(1, external_id="E", attributes={"a": 1, "b": 1}), _row(2, external_id="E", attributes={"b": 2})]
    plan = plan_chunk(rows, ContactIndex(), _ids())
    assert plan.upserts == {"new-1": {"external_id": "E", "attributes": {"a": 1, "b": 2}}}


def test_rows_addressed_to_a_merged_contact_land_on_its_survivor_and_keep_the_survivor_keys():
    known = [KnownContact("s", "CRM", "s@example.com", None), KnownContact("d", "WEB", "d@example.com", None, "s")]
    rows = [_row(1, external_id="WEB", last_name="L"), _row(2, email="d@example.com", first_name="F")]
    plan = plan_chunk(rows, ContactIndex(known), _ids())
    assert (plan.created, plan.updated, plan.rejected) == (0, 2, [])
    assert plan.upserts == {"s": {"last_name": "L", "first_name": "F"}}
