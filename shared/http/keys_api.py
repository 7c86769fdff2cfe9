"""Operators manage API keys on any service: all services verify against the same auth database."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from shared.auth.keys import ROLES
from shared.http.auth import current_key, roles_required
from shared.http.problems import Problem

blp = Blueprint("api_keys", __name__, url_prefix="/api-keys", description="API keys (operators)")


class KeyCreateSchema(Schema):
    """A key to create."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class KeySchema(Schema):
    """A key as listed (never with its secret)."""

    key_id = fields.String()
    name = fields.String()
    role = fields.String()
    created_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)


class CreatedKeySchema(KeySchema):
    """A freshly created key, with its text shown this once."""

    key = fields.String()


@blp.route("")
class Keys(MethodView):
    """Create and list keys."""

    @roles_required("operator")
    @blp.response(200, KeySchema(many=True))
    def get(self):
        """List keys."""
        return current_app.extensions["touchpoint_keys"].list()

    @roles_required("operator")
    @blp.arguments(KeyCreateSchema)
    @blp.response(201, CreatedKeySchema)
    def post(self, body):
        """Create a key; its text is in the answer and nowhere else."""
        key, text = current_app.extensions["touchpoint_keys"].create(body["name"], body["role"])
        return {"key_id": key.key_id, "name": key.name, "role": key.role, "key": text}


class WhoAmISchema(Schema):
    """The key a request was made with: who it is and its role (the console signs in with this)."""

    key_id = fields.String()
    name = fields.String()
    role = fields.String()


@blp.route("/me")
class Me(MethodView):
    """The caller's own key."""

    @roles_required(*ROLES)
    @blp.response(200, WhoAmISchema)
    def get(self):
        """Who am I: the key's id, name and role (any role may ask about itself)."""
        key = current_key()
        return {"key_id": key.key_id, "name": key.name, "role": key.role}


@blp.route("/<string:key_id>")
class KeyItem(MethodView):
    """Revoke a key."""

    @roles_required("operator")
    @blp.response(204)
    def delete(self, key_id: str):
        """Revoke a key."""
        if not current_app.extensions["touchpoint_keys"].revoke(key_id):
            raise Problem(404, "Not Found", f"no active key {key_id}", kind="not-found")
