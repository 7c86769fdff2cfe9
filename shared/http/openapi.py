"""What every service's /openapi.json says about the answers the shared edge sends.

flask-smorest documents its own error shape ({code, status, message}) in application/json; the
services answer RFC 9457 problem bodies in application/problem+json. `TouchpointApi` documents
those instead, and `EdgeResponses` adds to every operation the answers the shared edge can give
it whatever the view does: 401/403 (keys and roles, unless the operation is public), 404 (unknown
ids, or a path no resource can have), 414 (request target too long), 422 (a query parameter with
a control character), 400/413/415 where the operation takes a body, and 400 where it pages with a
`cursor` (a cursor it did not hand out: `shared.http.cursor`).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from apispec import BasePlugin
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from marshmallow import Schema, fields

PROBLEM_MEDIA_TYPE = "application/problem+json"
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


class ProblemSchema(Schema):
    """An RFC 9457 problem body; `errors` maps each field at fault to its messages."""

    class Meta:
        ordered = True

    type = fields.String(required=True, metadata={"description": "about:blank or a URI naming the problem kind"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    instance = fields.String(allow_none=True, metadata={"description": "the request path"})
    errors = fields.Dict(keys=fields.String(), metadata={"description": "field name → messages (or nested fields)"})


class CheckSchema(Schema):
    """One dependency check of /healthz."""

    ok = fields.Boolean(required=True)
    detail = fields.String(required=True)


class LivenessSchema(Schema):
    """The answer of /livez."""

    status = fields.String(required=True, metadata={"enum": ["ok"]})
    service = fields.String(required=True)


class HealthSchema(LivenessSchema):
    """The answer of /healthz: 200 when every check is ok, 503 otherwise."""

    status = fields.String(required=True, metadata={"enum": ["ok", "unavailable"]})
    checks = fields.Dict(keys=fields.String(), values=fields.Nested(CheckSchema), required=True)


class TouchpointApi(Api):
    """flask-smorest's Api, documenting error answers as problem bodies."""

    ERROR_SCHEMA = ProblemSchema
    # No catch-all `default` answer: each operation lists the statuses it can really send, so a client
    # (and the API fuzzer's status check) can rely on the list; an undocumented status is a bug.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_responses(self) -> None:
        """Register a response per HTTP status (lazily: only those referred to appear in the document)."""
        for status in HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            content_type = self.DEFAULT_RESPONSE_CONTENT_TYPE
            if status >= 400:
                response["schema"] = ProblemSchema
                content_type = PROBLEM_MEDIA_TYPE
            prepare_response(response, self.spec, content_type)
            self.spec.components.response(status.name, response, lazy=True)


def alt_problem(blueprint: Any, status: int, description: str) -> Any:
    """Decorator documenting that an operation may answer `status` with a problem body, and why.

    The statuses every operation shares (auth, guard, validation) come from `EdgeResponses`; this is for
    the ones a use case raises itself, such as a 409 when the stored state forbids the change."""
    return blueprint.alt_response(status, schema=ProblemSchema, content_type=PROBLEM_MEDIA_TYPE,
                                  description=description)


class EdgeResponses(BasePlugin):
    """Adds the answers of the shared edge (auth, guard, body reading) to every operation."""

    def operation_helper(self, path: str | None = None, operations: dict | None = None, **kwargs: Any) -> None:
        """Document 401/403/404/414/422 everywhere they apply, 400/413/415 where a body is taken, 400 with a cursor."""
        for method, operation in (operations or {}).items():
            if method not in _METHODS or not isinstance(operation, dict):
                continue
            codes = [404, 414, 422]
            if operation.get("security") != []:
                codes += [401, 403]
            if "requestBody" in operation:
                codes += [400, 413, 415]
            elif _takes_cursor(operation):
                codes.append(400)
            responses = operation.setdefault("responses", {})
            for code in codes:
                responses.setdefault(str(code), HTTPStatus(code).name)


def _takes_cursor(operation: dict) -> bool:
    """True when the operation has a `cursor` query parameter (MarshmallowPlugin has expanded them by now)."""
    return any(isinstance(p, dict) and p.get("in") == "query" and p.get("name") == "cursor"
               for p in operation.get("parameters", []))
