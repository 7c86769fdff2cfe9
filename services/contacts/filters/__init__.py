"""Segments' filters compiled to SQL: contacts is the only service that counts a filter in PostgreSQL.

The language itself (parser, AST, comparison rules) is `shared.filters`; `compile_sql` turns a parsed
filter into a SQLAlchemy boolean through a SqlResolver (`JsonbTableResolver` over the contacts tables),
following `shared/filters/values.py` so SQL agrees with the campaigns' Python evaluator.
"""

from services.contacts.filters.sql import FilterCompileError, SqlField, SqlResolver, compile_sql
from services.contacts.filters.sql_tables import JsonbTableResolver

__all__ = ["FilterCompileError", "JsonbTableResolver", "SqlField", "SqlResolver", "compile_sql"]
