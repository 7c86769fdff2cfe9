"""Property-based fuzzing of every service's API from its own /openapi.json (schemathesis).

For each operation of the document, schemathesis generates requests (valid and invalid bodies,
query strings, path ids) and sends them with an operator key, which every endpoint admits. A case
fails on any 5xx, and on any answer the document does not describe: an undocumented status, a
content type or a body that doesn't match the schema of its status. Cases are drawn both valid and
invalid by the document (schemathesis' positive and negative modes). Generation is derandomized,
so a run is repeatable; TOUCHPOINT_FUZZ_EXAMPLES (default 6 per operation, which keeps the whole
suite near its 10-minute budget) buys a deeper search.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks

pytestmark = pytest.mark.integration
EXAMPLES = int(os.environ.get("TOUCHPOINT_FUZZ_EXAMPLES", "6"))
# What the issue asks of every answer. Left out on purpose: positive_data_acceptance (a request valid
# by the document must be 2xx), because the document can't carry every rule a service checks (a
# phone number's region, a filter's grammar, a control character in a name are 422s by design).
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_headers_conformance, checks.response_schema_conformance]


def test_every_operation_answers_as_documented(service, api_keys):
    headers = {"X-API-Key": api_keys["operator"]}
    schema = schemathesis.openapi.from_wsgi("/openapi.json", service.app, headers=headers)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        # No shrinking: the first failing example of an operation is reported as generated.
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                              operation.as_strategy(GenerationMode.NEGATIVE)))
        def check(case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        # schemathesis raises its FailureGroup, a BaseExceptionGroup; every operation is still tried
        # and all failures are reported together below.
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.verbose_name}: {exc}"[:2000])
    assert operations > 5
    assert not failures, "\n\n".join(failures)
