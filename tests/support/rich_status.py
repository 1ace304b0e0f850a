"""Reading the rich error details a refusal carries, from a gRPC error or from the gateway's JSON body.

Services answer INVALID_ARGUMENT with a google.rpc.BadRequest naming every bad field, and FAILED_PRECONDITION
with a google.rpc.PreconditionFailure; the gateway passes the same google.rpc.Status on as JSON. Both are read
here as that JSON, so one decoder serves gRPC and HTTP tests.

assert field_violations(caught.value) == {"page_size": "must be between 1 and 100"}
assert set(field_violations(response)) == {"metadata.title"}       # an httpx.Response from the gateway
"""

from __future__ import annotations

from typing import Any

import grpc
import httpx
from google.protobuf import json_format
from grpc_status import rpc_status

INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]


def rich_status(error: grpc.aio.AioRpcError | httpx.Response) -> dict[str, Any]:
    """The answer's google.rpc.Status in its JSON form (details as {"@type": …, fields in camelCase})."""
    if isinstance(error, httpx.Response):
        return error.json()
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:  # a plain status: no details
        return {"code": error.code().value[0], "message": error.details() or ""}
    return json_format.MessageToDict(status)


def field_violations(error: grpc.aio.AioRpcError | httpx.Response) -> dict[str, str]:
    """field → description, in the order the answer names them, of an INVALID_ARGUMENT (over HTTP: a 400).

    Fails when the answer is anything else, or names one field twice (a dict would hide that)."""
    status = rich_status(error)
    assert status.get("code") == INVALID_ARGUMENT, status
    if isinstance(error, httpx.Response):
        assert error.status_code == 400, error.text
    pairs = [(v.get("field", ""), v.get("description", "")) for v in _details(status, "BadRequest", "fieldViolations")]
    found = dict(pairs)
    assert len(found) == len(pairs), f"a field is named twice: {pairs}"
    return found


def precondition_violations(error: grpc.aio.AioRpcError | httpx.Response) -> list[tuple[str, str]]:
    """(type, subject) of each google.rpc.PreconditionFailure violation the answer carries."""
    return [(v.get("type", ""), v.get("subject", "")) for v in _details(rich_status(error), "PreconditionFailure")]


def _details(status: dict[str, Any], kind: str, items: str = "violations") -> list[dict[str, Any]]:
    """The items of every detail of this google.rpc type, in order."""
    type_url = f"type.googleapis.com/google.rpc.{kind}"
    return [
        item
        for detail in status.get("details", [])
        if detail.get("@type") == type_url
        for item in detail.get(items, [])
    ]
