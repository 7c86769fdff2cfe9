"""Each service's /openapi.json describes the answers the shared edge really sends."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration
METHODS = {"get", "put", "post", "patch", "delete"}


def operations(document: dict):
    """(path, method, operation) of every operation in a document."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def resolve(document: dict, response: dict) -> dict:
    """A response object, following one $ref into components."""
    if "$ref" in response:
        return document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response


@pytest.fixture
def document(service) -> dict:
    """The service's OpenAPI document, read with a key of the least privileged kind."""
    answer = service.get("/openapi.json", role="agent")
    assert answer.status_code == 200
    return answer.get_json()


def test_the_document_needs_a_key(service):
    assert service.get("/openapi.json", role=None).status_code == 401


def test_errors_are_documented_as_problem_bodies(document):
    """Every error answer is a problem body, and the statuses are listed one by one: the integration tests
    check each answer they receive against this list (tests/openapi_conformance.py), the fuzzer too.
    A public page (`security: []`, contacts' one-click unsubscribe) may also answer a person with text/html."""
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status"} and "errors" in problem["properties"]
    for path, method, operation in operations(document):
        expected = {"404", "414", "422"}
        if operation.get("security") != []:
            expected |= {"401", "403"}
        if "requestBody" in operation:
            expected |= {"400", "413", "415"}
        if any(p.get("in") == "query" and p.get("name") == "cursor" for p in operation.get("parameters", [])):
            expected |= {"400"}  # a cursor the API did not hand out, in every service
        responses = operation["responses"]
        assert expected <= set(responses), f"{method.upper()} {path} lacks {expected - set(responses)}"
        assert "default" not in responses, f"{method.upper()} {path}: list the statuses it sends, no catch-all"
        for code in (c for c in responses if int(c) >= 400 and c != "503"):
            content = dict(resolve(document, responses[code])["content"])
            if operation.get("security") == [] and content.pop("text/html", None) and not content:
                continue  # only ever the page (a genuine but expired link)
            assert list(content) == ["application/problem+json"], f"{method.upper()} {path} {code}"
            assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_health_answers_are_described(document):
    livez = document["paths"]["/livez"]["get"]
    healthz = document["paths"]["/healthz"]["get"]
    assert livez["security"] == [] and healthz["security"] == []
    assert livez["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Liveness")
    for code in ("200", "503"):
        assert healthz["responses"][code]["content"]["application/json"]["schema"]["$ref"].endswith("/Health")
    health = document["components"]["schemas"]["Health"]
    assert set(health["required"]) == {"status", "service", "checks"}


def test_every_body_lists_its_media_types(document):
    for path, method, operation in operations(document):
        if "requestBody" in operation:
            assert operation["requestBody"]["content"], f"{method.upper()} {path}"


def test_webhooks_are_described_as_signature_authenticated(edge_services):
    document = edge_services["channels"].get("/openapi.json", role="agent").get_json()
    scheme = document["components"]["securitySchemes"]["WebhookSignature"]
    assert scheme == {"type": "apiKey", "in": "header", "name": "X-Touchpoint-Signature",
                      "description": scheme["description"]}
    webhooks = [(path, op) for path, _, op in operations(document) if path.startswith("/webhooks/")]
    assert len(webhooks) == 3
    for path, operation in webhooks:
        assert operation["security"] == [{"WebhookSignature": []}], path
        assert "application/json" in operation["requestBody"]["content"], path
        assert "202" in operation["responses"], path
