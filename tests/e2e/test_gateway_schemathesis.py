"""Property-based API tests: schemathesis drives every operation of /openapi.json, in-process.

Run against the running gateway and mesh with a real user's token. No answer may be a server
error, and every answer must match the document (status, content type, headers, body schema).
"""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.mesh import Mesh

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="session")
def api_token(gateway: str, mesh: Mesh) -> str:
    """A real account's token, from the user service itself through the gateway."""
    with httpx.Client(base_url=gateway, timeout=30, headers={"Grpc-Timeout": "30S"}) as client:
        credentials = {"username": "schemathesis_user", "password": "correct horse battery staple"}
        created = client.post("/v1/users", json=credentials)
        assert created.status_code in (200, 409), created.text
        signed_in = client.post("/v1/auth/token", json=credentials)
        assert signed_in.status_code == 200, signed_in.text
        return signed_in.json()["accessToken"]


def test_the_api_matches_its_document(gateway: str, api_token: str) -> None:
    """Each operation gets its own hypothesis run; failures are gathered so one report names them all."""
    schema = schemathesis.openapi.from_url(f"{gateway}/openapi.json")
    headers = {"Authorization": f"Bearer {api_token}"}
    failures: dict[str, BaseException] = {}
    answered: Counter[int] = Counter()
    tested = 0
    # Endless by design, a request/response fuzzer cannot read them to the end: tests/e2e/test_gateway_events.py.
    event_streams = {
        (path, method.upper())
        for path, item in schema.raw_schema["paths"].items()
        for method, operation in item.items()
        if "text/event-stream" in operation.get("responses", {}).get("200", {}).get("content", {})
    }
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.path, operation.method.upper()) in event_streams:
            tested += 1
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)
            answered[response.status_code] += 1

        try:
            check()
        except Exception as exc:
            failures[operation.label] = exc
        tested += 1
    assert tested == len(schema.raw_schema["paths"]) + sum(
        len(item) - 1 for item in schema.raw_schema["paths"].values()
    )
    assert not failures, "\n\n".join(f"{label}: {exc}" for label, exc in failures.items())
    print("statuses answered:", dict(sorted(answered.items())))
    assert any(200 <= status < 300 for status in answered), "no generated request ever succeeded"
