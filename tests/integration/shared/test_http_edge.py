"""The HTTP edge every service shares: keys and roles, problem bodies, health, metrics, OpenAPI."""

from __future__ import annotations

import pytest
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from shared.config import Settings
from shared.http import Problem, create_service_app, roles_required
from shared.http.auth import endpoints_without_roles

pytestmark = pytest.mark.integration

blp = Blueprint("things", __name__, url_prefix="/things")


class ThingSchema(Schema):
    """A test body."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=10))
    size = fields.Integer(required=True)


@blp.route("")
class Things(MethodView):
    """Test endpoint."""

    @roles_required("marketer")
    @blp.arguments(ThingSchema)
    @blp.response(201, ThingSchema)
    def post(self, body):
        """Create."""
        if body["name"] == "boom":
            raise RuntimeError("unexpected")
        if body["name"] == "taken":
            raise Problem(409, "Conflict", "name taken", kind="conflict")
        return body


@pytest.fixture(scope="module")
def client(messaging_db_url, auth_database_url, amqp_url, key_store):
    settings = Settings(service="things", database_url=messaging_db_url, auth_database_url=auth_database_url,
                        amqp_url=amqp_url, max_body_bytes=2048)
    app = create_service_app(settings, "Things", [blp], keys=key_store)
    assert endpoints_without_roles(app) == []
    return app.test_client()


def test_health_answers_without_a_key(client):
    assert client.get("/livez").status_code == 200
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]


@pytest.mark.parametrize(("method", "path"), [("POST", "/things"), ("GET", "/openapi.json"), ("GET", "/metrics"),
                                              ("GET", "/api-keys")])
def test_everything_else_needs_a_key(client, method, path):
    response = client.open(path, method=method, json={"name": "a", "size": 1})
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert client.open(path, method=method, headers={"X-API-Key": "tp_nope_nope"}).status_code == 401


def test_roles_are_enforced(client, api_keys):
    body = {"name": "a", "size": 1}
    assert client.post("/things", json=body, headers={"X-API-Key": api_keys["agent"]}).status_code == 403
    assert client.post("/things", json=body, headers={"X-API-Key": api_keys["marketer"]}).status_code == 201
    assert client.post("/things", json=body, headers={"Authorization": f"Bearer {api_keys['operator']}"}).status_code == 201
    assert client.get("/metrics", headers={"X-API-Key": api_keys["marketer"]}).status_code == 403
    metrics = client.get("/metrics", headers={"X-API-Key": api_keys["operator"]})
    assert metrics.status_code == 200 and b"touchpoint_http_requests_total" in metrics.data


def test_openapi_is_generated_from_the_schemas(client, api_keys):
    spec = client.get("/openapi.json", headers={"X-API-Key": api_keys["agent"]}).get_json()
    assert "/things" in spec["paths"] and "Thing" in spec["components"]["schemas"]


@pytest.mark.parametrize(("raw", "content_type", "status", "needle"), [
    (b"{not json", "application/json", 400, "JSON"),
    (b'{"name": "a", "size": 1, "extra": 2}', "application/json", 422, "extra"),
    (b'{"name": "a", "size": "big"}', "application/json", 422, "size"),
    (b'{"size": 1}', "application/json", 422, "name"),
    (b'{"name": "' + b"a" * 5000 + b'", "size": 1}', "application/json", 413, "Too Large"),
    (b"[]", "application/json", 422, "_schema"),
    (b'{"name": "boom", "size": 1}', "application/json", 500, "unexpected"),
    (b'{"name": "taken", "size": 1}', "application/json", 409, "name taken"),
])
def test_bad_input_gets_a_problem_body(client, api_keys, raw, content_type, status, needle):
    response = client.post("/things", data=raw, content_type=content_type, headers={"X-API-Key": api_keys["marketer"]})
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and "title" in body
    assert needle in str(body) or (status == 500 and "unexpected error" in body["detail"])


def test_key_management(client, api_keys, key_store):
    created = client.post("/api-keys", json={"name": "bob", "role": "agent"},
                          headers={"X-API-Key": api_keys["operator"]})
    assert created.status_code == 201
    key = created.get_json()
    assert key_store.verify(key["key"]).role == "agent"
    listed = client.get("/api-keys", headers={"X-API-Key": api_keys["operator"]}).get_json()
    assert all("key_hash" not in k and "key" not in k for k in listed)
    assert client.delete(f"/api-keys/{key['key_id']}", headers={"X-API-Key": api_keys["operator"]}).status_code == 204
    assert key_store.verify(key["key"]) is None
    bad = client.post("/api-keys", json={"name": "x", "role": "king"}, headers={"X-API-Key": api_keys["operator"]})
    assert bad.status_code == 422 and "role" in bad.get_json()["errors"]
