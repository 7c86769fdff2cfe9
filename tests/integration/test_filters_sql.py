"""compile_sql against real PostgreSQL agrees with evaluate() on which contacts match."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects.postgresql import JSONB

import tests.support as support
from services.campaigns.domain.filters import MappingContext, evaluate
from services.contacts.filters import JsonbTableResolver, compile_sql
from shared.filters import parse
from tests.properties import examples

pytestmark = pytest.mark.integration

URL = support.test_database_url("filters")
DATABASE = URL.rsplit("/", 1)[1]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

CONTACTS: list[dict[str, Any]] = [
    {"id": 1, "email": "ada@example.com", "age": 36, "opted_in": True, "attributes": {
        "tier": "gold", "balance": "10000", "score": 42, "tags": ["vip", "mortgage", 7],
        "address": {"city": "Leeds"}, "vip": True}},
    {"id": 2, "email": "bob@example.org", "age": None, "opted_in": False, "attributes": {
        "tier": "silver", "balance": "abc", "score": "17", "tags": "vip-ish", "vip": False, "nickname": "Zed"}},
    {"id": 3, "email": "cy@example.com", "age": 19, "opted_in": None, "attributes": {
        "tier": "Gold", "balance": 250.5, "score": None, "tags": [], "address": {"city": "leeds"}}},
    {"id": 4, "email": None, "age": None, "opted_in": None, "attributes": {}},
    {"id": 5, "email": "eve@example.net", "age": 70, "opted_in": True, "attributes": {
        "tier": 10, "balance": "-5", "score": 100.0, "tags": ["10", True], "vip": "true", "nickname": "éclair"}},
    {"id": 6, "email": "fay@example.com", "age": 25, "opted_in": True, "attributes": None},
]  # fmt: skip
CONSENTS = [
    (1, "email", "granted"),
    (2, "email", "withdrawn"),
    (3, "sms", "granted"),
    (5, "email", "granted"),
]
SUPPRESSIONS = [
    (2, "global", None, None),
    (3, "channel", "email", NOW - timedelta(days=1)),
    (5, "topic", "mortgage", NOW + timedelta(days=30)),
    (1, "channel", "sms", None),
]
EVENTS = [
    (1, "product_purchased", NOW - timedelta(days=10), {"product": "mortgage"}),
    (1, "withdrawal", NOW - timedelta(days=2), {"amount": 500}),
    (3, "product_purchased", NOW - timedelta(days=40), {"product": "loan"}),
    (5, "withdrawal", NOW - timedelta(days=1), {"amount": 150}),
    (5, "withdrawal", NOW - timedelta(days=2), {"amount": "300"}),
    (5, "withdrawal", NOW - timedelta(days=3), {"amount": "abc"}),
    (5, "withdrawal", NOW - timedelta(days=7), {"amount": 700}),
    (5, "withdrawal", NOW - timedelta(days=20), {"amount": 900}),
]


def _ensure_database() -> None:
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[sa.Engine, JsonbTableResolver, sa.Table]]:
    _ensure_database()
    engine = sa.create_engine(URL)
    schema = f"filters_{uuid.uuid4().hex[:12]}"
    metadata = sa.MetaData(schema=schema)
    contacts = sa.Table(
        "contacts", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("email", sa.Text),
        sa.Column("age", sa.Integer), sa.Column("opted_in", sa.Boolean), sa.Column("attributes", JSONB),
    )  # fmt: skip
    consents = sa.Table(
        "consents", metadata, sa.Column("contact_id", sa.Integer), sa.Column("channel", sa.Text),
        sa.Column("status", sa.Text),
    )  # fmt: skip
    suppressions = sa.Table(
        "suppressions", metadata, sa.Column("contact_id", sa.Integer), sa.Column("scope", sa.Text),
        sa.Column("value", sa.Text), sa.Column("expires_at", sa.DateTime(timezone=True)),
    )  # fmt: skip
    events = sa.Table(
        "events", metadata, sa.Column("contact_id", sa.Integer), sa.Column("type", sa.Text),
        sa.Column("occurred_at", sa.DateTime(timezone=True)), sa.Column("data", JSONB),
    )  # fmt: skip
    with engine.begin() as conn:
        conn.execute(sa.schema.CreateSchema(schema))
        metadata.create_all(conn)
        # None must become SQL NULL, not the JSON 'null' document.
        conn.execute(
            contacts.insert(), [{**row, "attributes": row["attributes"] or sa.null()} for row in CONTACTS]
        )
        conn.execute(
            consents.insert(),
            [dict(zip(("contact_id", "channel", "status"), row, strict=True)) for row in CONSENTS],
        )
        conn.execute(
            suppressions.insert(),
            [
                dict(zip(("contact_id", "scope", "value", "expires_at"), row, strict=True))
                for row in SUPPRESSIONS
            ],
        )
        conn.execute(
            events.insert(),
            [dict(zip(("contact_id", "type", "occurred_at", "data"), row, strict=True)) for row in EVENTS],
        )
    resolver = JsonbTableResolver(contacts, consents, suppressions, events, now=NOW)
    try:
        yield engine, resolver, contacts
    finally:
        with engine.begin() as conn:
            conn.execute(sa.schema.DropSchema(schema, cascade=True))
        engine.dispose()


def python_matches(text: str) -> set[int]:
    expr = parse(text)
    matched = set()
    for contact in CONTACTS:
        ctx = MappingContext(
            contact=contact,
            consents={channel: status for cid, channel, status in CONSENTS if cid == contact["id"]},
            suppressions=[
                {"scope": scope, "value": value, "expires_at": expires}
                for cid, scope, value, expires in SUPPRESSIONS
                if cid == contact["id"]
            ],
            history=[
                {"type": kind, "occurred_at": at, "data": data}
                for cid, kind, at, data in EVENTS
                if cid == contact["id"]
            ],
            now_at=NOW,
        )
        if evaluate(expr, ctx):
            matched.add(contact["id"])
    return matched


def sql_matches(world: tuple[sa.Engine, JsonbTableResolver, sa.Table], text: str) -> set[int]:
    engine, resolver, contacts = world
    with engine.connect() as conn:
        return set(conn.scalars(sa.select(contacts.c.id).where(compile_sql(parse(text), resolver))))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tier == 'gold'", {1}),
        ("tier in ['gold', 'Gold', 10]", {1, 3, 5}),
        ("tier not in ['gold']", {2, 3}),
        ("balance > 500", {1}),  # 'abc' is skipped, not an error
        ("balance < 0 or balance >= 250.5", {1, 3, 5}),
        ("score == '17'", {2}),
        ("score >= 42", {1, 5}),
        ("not score > 50", {1, 2, 3, 4, 6}),
        ("tags contains 'vip'", {1, 2}),
        ("tags contains 7 or tags contains true", {1, 5}),
        ("address.city == 'Leeds'", {1}),
        ("contact.attributes.nickname > 'Zz'", {5}),  # code-point order: 'é' sorts after 'Z'
        ("vip == true", {1}),
        ("vip is null", {3, 4, 6}),
        ("email contains '@example.com' and age >= 25", {1, 6}),
        ("opted_in != true", {2}),
        ("consent.email == 'granted'", {1, 5}),
        ("has_consent('email') and not suppressed('email')", {1, 5}),
        ("suppressed('email')", {2}),
        ("suppressed(topic='mortgage')", {2, 5}),
        ("did('product_purchased', within='30d', where=product == 'mortgage')", {1}),
        ("count('withdrawal', within='7d', where=amount > 100) >= 3", {5}),
        ("count('withdrawal') == 0", {2, 3, 4, 6}),
    ],
)
def test_sql_and_python_agree(
    world: tuple[sa.Engine, JsonbTableResolver, sa.Table], text: str, expected: set[int]
) -> None:
    assert python_matches(text) == expected
    assert sql_matches(world, text) == expected


paths = st.sampled_from(
    [
        "tier",
        "balance",
        "score",
        "tags",
        "vip",
        "nickname",
        "address.city",
        "email",
        "age",
        "opted_in",
        "missing",
    ]
)
literals = st.sampled_from(
    ["'gold'", "'Gold'", "'10000'", "'17'", "'abc'", "'vip'", "'Leeds'", "'true'", "''", "'Z'", "'-5'", "0", "7",
     "10", "42", "-5", "250.5", "10000", "true", "false"]
)  # fmt: skip
comparisons = st.one_of(
    st.tuples(paths, st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "contains"]), literals).map(" ".join),
    st.tuples(paths, st.sampled_from(["== null", "!= null", "is null", "is not null"])).map(" ".join),
    st.tuples(paths, st.sampled_from(["in", "not in"]), st.lists(literals, max_size=3)).map(
        lambda parts: f"{parts[0]} {parts[1]} [{', '.join(parts[2])}]"
    ),
)
event_comparisons = st.tuples(
    st.sampled_from(["amount", "product", "missing"]),
    st.sampled_from(["==", "!=", "<", ">=", "contains"]),
    literals,
).map(" ".join)
event_conditions = st.one_of(
    st.tuples(st.sampled_from(["withdrawal", "product_purchased"]), event_comparisons).map(
        lambda parts: f"did('{parts[0]}', where={parts[1]})"
    ),
    st.tuples(st.sampled_from(["1d", "7d", "30d"]), event_comparisons, st.integers(0, 4)).map(
        lambda parts: f"count('withdrawal', within='{parts[0]}', where={parts[1]}) >= {parts[2]}"
    ),
)
conditions = st.recursive(
    comparisons | event_conditions,
    lambda inner: st.one_of(
        inner.map(lambda text: f"not ({text})"),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
            lambda parts: f"({parts[0]}) {parts[1]} ({parts[2]})"
        ),
    ),
    max_leaves=4,
)


@settings(max_examples=examples(300), deadline=None)
@given(conditions)
def test_sql_and_python_agree_on_generated_conditions(
    world: tuple[sa.Engine, JsonbTableResolver, sa.Table], text: str
) -> None:
    assert sql_matches(world, text) == python_matches(text), text
