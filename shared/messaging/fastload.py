"""`schema.load(data)` for the payloads every consumer validates, at a fraction of its cost.

Every hop validates the envelope and the payload of each message with marshmallow; at broadcast
rates `Schema.load` was 10-18 % of a worker's CPU, most of it in the schema's bookkeeping around
the fields (error store, hooks, partial loading, per-field closures), not in the fields themselves.

`FastLoader(schema).load(data)` runs the schema's own fields (`Field.deserialize`: the same type
checks, conversions, defaults and validators) over a valid mapping and builds the result as
`Schema._deserialize` does, then runs the schema's `validates_schema` checks (those of one item)
on the result. Whatever it does not reproduce goes to `schema.load` unchanged: a schema with other
hooks (`pre_load`, `validates`, `post_load`, ...), `partial`, `attribute`s, a mapping
with unknown fields under `RAISE`, any field that fails, anything that is not a dict. A single
`Nested` field whose schema qualifies is loaded the same way; a failing schema check goes to
`schema.load` too. So a valid
payload loads to the same value and an invalid one fails with marshmallow's own error messages.
"""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields, missing
from marshmallow.decorators import VALIDATES_SCHEMA


class FastLoader:
    """Loads like `schema.load` (see the module docstring); the schema is not changed."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.fields = tuple((name, field, _nested_loader(field)) for name, field in schema.load_fields.items())
        self.known = frozenset(schema.load_fields)
        self.unknown = schema.unknown
        checks = schema._hooks.get(VALIDATES_SCHEMA, [])
        # Schema checks of one item, each called as marshmallow calls it (the loaded data, and the
        # original too when asked for); one over the whole collection is marshmallow's business.
        self.checks = tuple((getattr(schema, name), bool(kwargs.get("pass_original"))) for name, many, kwargs in checks)
        others = any(hooks for tag, hooks in schema._hooks.items() if tag != VALIDATES_SCHEMA)
        # Names on the wire and in the result are the field names (no data_key, no attribute).
        self.fast = (not others and not any(many for _, many, _ in checks) and not schema.partial and not schema.many
                     and schema.dict_class is dict
                     and all(field.data_key in (None, name) and field.attribute in (None, name)
                             for name, field, _ in self.fields))

    def load(self, data: Any) -> Any:
        """The loaded data, as `schema.load(data)` returns it; its ValidationError when invalid."""
        if not self.fast or type(data) is not dict:
            return self.schema.load(data)
        if self.unknown == RAISE and not self.known.issuperset(data):
            return self.schema.load(data)  # marshmallow words the refusal
        loaded: dict[str, Any] = {}
        try:
            for key, field, nested in self.fields:
                value = data.get(key, missing)
                if nested is not None and value is not missing and value is not None:
                    value = nested.load(value)  # Nested.deserialize: the nested schema's load, then
                    field._validate(value)      # the field's own validators
                else:
                    value = field.deserialize(value, key, data)
                if value is not missing:
                    loaded[key] = value
        except ValidationError:
            return self.schema.load(data)  # the same refusal, with every failing field named
        if self.unknown == INCLUDE:
            for key, value in data.items():
                if key not in self.known:
                    loaded[key] = value
        try:
            for check, pass_original in self.checks:  # on the whole result, as marshmallow runs them
                if pass_original:
                    check(loaded, data, partial=self.schema.partial, many=False, unknown=self.unknown)
                else:
                    check(loaded, partial=self.schema.partial, many=False, unknown=self.unknown)
        except ValidationError:
            return self.schema.load(data)
        return loaded


def _nested_loader(field: fields.Field) -> FastLoader | None:
    """A FastLoader for a single Nested field's schema (its `unknown` not overridden), else None."""
    if type(field) is not fields.Nested or field.many or field.unknown is not None:
        return None
    loader = FastLoader(field.schema)
    return loader if loader.fast else None
