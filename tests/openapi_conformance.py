"""Every answer a test receives through `ServiceHarness` must be one its service's /openapi.json documents.

The API fuzzer (tests/integration/edge/test_api_fuzz.py) draws random requests and so rarely reaches the
answers that need state: a claimed task's 409, an erased contact's 409, a paused schedule's 409. The
integration tests reach every one of them on purpose, so checking their answers against the document
makes the whole integration suite a conformance test of the documented status codes.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException

_DOCUMENTS: dict[int, dict[str, Any]] = {}
_RULE_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_CHECKED_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def _document(app, operator_key: str) -> dict[str, Any]:
    document = _DOCUMENTS.get(id(app))
    if document is None:
        answer = app.test_client().get("/openapi.json", headers={"X-API-Key": operator_key})
        assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
        document = _DOCUMENTS[id(app)] = answer.get_json()
    return document


def documented_statuses(app, operator_key: str, method: str, path: str) -> set[str] | None:
    """The status codes the document gives the operation `method path`; None when no operation matches."""
    if method.upper() not in _CHECKED_METHODS:
        return None
    try:
        rule, _ = app.url_map.bind("localhost").match(urlsplit(path).path, method=method.upper(), return_rule=True)
    except HTTPException:
        return None  # no route: the 404/405 of a path no resource has is the edge's answer, not an operation's
    operation = _document(app, operator_key).get("paths", {}).get(_RULE_ARGUMENT.sub(r"{\1}", rule.rule), {})
    responses = operation.get(method.lower(), {}).get("responses")
    return None if responses is None else set(responses)


def assert_documented(app, operator_key: str, method: str, path: str, status: int) -> None:
    """Fail when `status` is not among the answers the document gives the operation `method path`."""
    statuses = documented_statuses(app, operator_key, method, path)
    if statuses is not None and str(status) not in statuses and "default" not in statuses:
        raise AssertionError(f"{method} {path} answered {status}, which its /openapi.json does not document "
                             f"(documented: {sorted(statuses)})")
