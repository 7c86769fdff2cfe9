"""Segment sources: keyset pages cover a segment exactly once; a bad answer is refused, not guessed at."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.campaigns.segments import (
    HttpSegmentSource,
    InMemorySegmentSource,
    SegmentUnavailable,
    member,
)


def _walk(source, segment_id: str, limit: int) -> list[str]:
    seen, after = [], None
    while True:
        page = source.page(segment_id, after, limit)
        assert len(page.items) <= limit
        seen.extend(m["contact_id"] for m in page.items)
        if page.next_after is None:
            return seen
        after = page.next_after


@given(st.sets(st.text(alphabet="abcdef0123456789", min_size=1, max_size=6), max_size=60),
       st.integers(min_value=1, max_value=17))
def test_pages_cover_the_segment_once_in_contact_id_order(ids: set[str], limit: int) -> None:
    source = InMemorySegmentSource({"s": [{"contact_id": i} for i in ids]})
    assert _walk(source, "s", limit) == sorted(ids)


def test_members_keep_only_documented_fields() -> None:
    kept = member({"contact_id": "c1", "email": "a@b.c", "password": "x", "attributes": None})
    assert kept["email"] == "a@b.c" and "password" not in kept and kept["attributes"] == {}
    with pytest.raises(SegmentUnavailable):
        member({"email": "no id"})


class _Response:
    def __init__(self, status: int, body: object) -> None:
        self.status_code = status
        self._body = body
        self.text = str(body)

    def json(self) -> object:
        if isinstance(self._body, Exception):
            raise self._body
        return self._body


class _Session:
    """Answers every GET with one canned response and remembers what was asked."""

    def __init__(self, response: _Response) -> None:
        self.response = response
        self.headers: dict[str, str] = {}
        self.asked: list[tuple[str, dict]] = []

    def get(self, url: str, params: dict, timeout: float) -> _Response:
        self.asked.append((url, params))
        return self.response


def test_http_source_asks_the_documented_endpoint_with_the_key() -> None:
    session = _Session(_Response(200, {"items": [{"contact_id": "c2"}], "next_after": "c2"}))
    source = HttpSegmentSource("http://contacts:8001/", "k-123", session=session)
    page = source.page("seg/1", "c1", 50)
    assert session.headers["X-API-Key"] == "k-123"
    assert session.asked == [("http://contacts:8001/segments/seg%2F1/members", {"limit": 50, "after": "c1"})]
    assert [m["contact_id"] for m in page.items] == ["c2"] and page.next_after == "c2"


@pytest.mark.parametrize("response", [
    _Response(500, {"title": "boom"}),
    _Response(200, ValueError("not json")),
    _Response(200, {"members": []}),
    _Response(200, {"items": [{"contact_id": 5}], "next_after": None}),
    _Response(200, {"items": [], "next_after": 7}),
])
def test_http_source_refuses_answers_of_the_wrong_shape(response: _Response) -> None:
    with pytest.raises(SegmentUnavailable):
        HttpSegmentSource("http://contacts", "k", session=_Session(response)).page("s", None)
