"""SQL compilation, checked as PostgreSQL text: bind parameters, numeric guards, JSONB paths, subqueries."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB

from services.contacts.filters import FilterCompileError, JsonbTableResolver, compile_sql
from shared.filters import parse

metadata = sa.MetaData()
contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.Text),
    sa.Column("age", sa.Integer),
    sa.Column("opted_in", sa.Boolean),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("attributes", JSONB),
)
consents = sa.Table(
    "consents",
    metadata,
    sa.Column("contact_id", sa.Integer),
    sa.Column("channel", sa.Text),
    sa.Column("status", sa.Text),
)
suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("contact_id", sa.Integer),
    sa.Column("scope", sa.Text),
    sa.Column("value", sa.Text),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
)
events = sa.Table(
    "events",
    metadata,
    sa.Column("contact_id", sa.Integer),
    sa.Column("type", sa.Text),
    sa.Column("occurred_at", sa.DateTime(timezone=True)),
    sa.Column("data", JSONB),
)
resolver = JsonbTableResolver(contacts, consents, suppressions, events)


def sql(text: str, literal_binds: bool = False) -> str:
    query = sa.select(contacts.c.id).where(compile_sql(parse(text), resolver))
    compiled = query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": literal_binds})
    return " ".join(str(compiled).split())


def test_user_text_only_travels_as_bind_parameters() -> None:
    hostile = "x'); DROP TABLE contacts; --"
    text = f'tier == "{hostile}" or email contains "{hostile}" or did("{hostile}", where=a == "{hostile}")'
    assert "DROP" not in sql(text)


def test_jsonb_attribute_equality_checks_the_json_type() -> None:
    compiled = sql("tier == 'gold'", literal_binds=True)
    assert "jsonb_typeof(contacts.attributes['tier']) = 'string'" in compiled
    assert "(contacts.attributes ->> 'tier') IN ('gold')" in compiled
    assert compiled.startswith("SELECT contacts.id FROM contacts WHERE coalesce(")


def test_numeric_comparison_is_guarded_against_non_numeric_text() -> None:
    compiled = sql("balance > 500", literal_binds=True)
    assert "(contacts.attributes ->> 'balance') ~ '^-?[0-9]+(\\.[0-9]+)?$'" in compiled
    assert "THEN CAST((contacts.attributes ->> 'balance') AS NUMERIC) END > 500" in compiled
    assert "jsonb_typeof(contacts.attributes['balance']) = 'number'" in compiled


def test_string_ordering_uses_code_point_collation() -> None:
    assert 'COLLATE "C"' in sql("tier > 'b'")


def test_nested_attribute_paths_use_the_path_operator() -> None:
    assert "contacts.attributes #>> %(attributes_1)s" in sql("address.city == 'Leeds'")
    assert "contacts.attributes ->> %(attributes_1)s" in sql("contact.attributes.tier == 'x'")


def test_real_columns_are_used_directly() -> None:
    assert "coalesce(contacts.age > %(param_1)s, false)" in sql("contact.age > 30")
    assert "contacts.email IS NOT NULL AND strpos(contacts.email," in sql("email contains '@'")
    assert "coalesce(contacts.opted_in IS NOT NULL AND contacts.opted_in, false)" in sql("opted_in == true")
    assert "coalesce(contacts.created_at IS NULL, false)" in sql("created_at is null")
    assert "WHERE coalesce(false, false)" in sql(
        "created_at == 'yesterday'"
    )  # no literal compares with a date


def test_null_comparisons() -> None:
    assert "(contacts.attributes ->> %(attributes_1)s::TEXT) IS NULL" in sql("tier == null")
    assert "IS NOT NULL" in sql("tier is not null")


def test_lists_become_in_with_expanding_parameters() -> None:
    compiled = sql("tier in ['gold', 'silver', 3]")
    assert "IN (__[POSTCOMPILE_" in compiled
    assert compiled.count("IN (__[POSTCOMPILE_") == 2  # one for strings, one for numbers


def test_contains_covers_strings_and_json_arrays() -> None:
    compiled = sql("tags contains 'vip'", literal_binds=True)
    assert "strpos((contacts.attributes ->> 'tags'), 'vip') > 0" in compiled
    assert "contacts.attributes['tags'] @> CAST('[\"vip\"]' AS JSONB)" in compiled


def test_consent_and_suppression_are_correlated_exists() -> None:
    compiled = sql("has_consent('email') and not suppressed('email', topic='mortgage')", literal_binds=True)
    assert "EXISTS (SELECT * FROM consents WHERE consents.contact_id = contacts.id" in compiled
    assert "consents.status = 'granted'" in compiled
    assert "NOT (EXISTS (SELECT * FROM suppressions WHERE suppressions.contact_id = contacts.id" in compiled
    assert "suppressions.expires_at IS NULL OR suppressions.expires_at > now()" in compiled
    assert "suppressions.scope = 'topic' AND suppressions.value = 'mortgage'" in compiled


def test_events_compile_to_correlated_subqueries() -> None:
    compiled = sql("count('withdrawal', within='7d', where=amount > 100) >= 3")
    assert "(SELECT count(*) AS count_1 FROM events WHERE events.contact_id = contacts.id" in compiled
    assert "events.occurred_at >= now() - %(param_" in compiled
    assert "events.data ->> %(data_1)s" in compiled
    assert "EXISTS (SELECT * FROM events" in sql("did('login')")


def test_fixed_now_is_a_bound_timestamp() -> None:
    fixed = JsonbTableResolver(contacts, consents, suppressions, events, now=datetime(2026, 1, 1, tzinfo=UTC))
    clause = compile_sql(parse("did('login', within='1d')"), fixed)
    assert "now()" not in str(clause.compile(dialect=postgresql.dialect()))


def test_consent_path_reads_the_status() -> None:
    assert "(SELECT consents.status FROM consents WHERE consents.contact_id = contacts.id" in sql(
        "consent.email == 'granted'"
    )


@pytest.mark.parametrize(
    "text", ["event.amount > 5", "contact == 'x'", "email.domain == 'x'", "consent == 'x'"]
)
def test_paths_without_a_segment_meaning_are_compile_errors(text: str) -> None:
    with pytest.raises(FilterCompileError):
        compile_sql(parse(text), resolver)
