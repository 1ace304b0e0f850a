"""gRPC status → HTTP status (grpc-gateway's table) and google.rpc.Status bodies."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from gateway.errors import (
    GatewayError,
    gateway_error_response,
    http_status,
    invalid_argument,
    rpc_error_response,
    status_from_rpc_error,
)
from services.runtime.errors import ResourceExhausted

TABLE = [
    (grpc.StatusCode.OK, 200),
    (grpc.StatusCode.INVALID_ARGUMENT, 400),
    (grpc.StatusCode.FAILED_PRECONDITION, 400),
    (grpc.StatusCode.OUT_OF_RANGE, 400),
    (grpc.StatusCode.UNAUTHENTICATED, 401),
    (grpc.StatusCode.PERMISSION_DENIED, 403),
    (grpc.StatusCode.NOT_FOUND, 404),
    (grpc.StatusCode.ALREADY_EXISTS, 409),
    (grpc.StatusCode.ABORTED, 409),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
    (grpc.StatusCode.CANCELLED, 499),
    (grpc.StatusCode.UNAVAILABLE, 503),
    (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
    (grpc.StatusCode.UNIMPLEMENTED, 501),
    (grpc.StatusCode.INTERNAL, 500),
    (grpc.StatusCode.UNKNOWN, 500),
    (grpc.StatusCode.DATA_LOSS, 500),
]


def test_the_table_covers_every_status_code() -> None:
    assert {code for code, _ in TABLE} == set(grpc.StatusCode)


@pytest.mark.parametrize(("code", "expected"), TABLE, ids=[code.name for code, _ in TABLE])
def test_status_maps_like_grpc_gateway(code: grpc.StatusCode, expected: int) -> None:
    assert http_status(code) == expected


def _rpc_error(code: grpc.StatusCode, message: str, status: status_pb2.Status | None) -> grpc.aio.AioRpcError:
    trailing = grpc.aio.Metadata()
    if status is not None:
        trailing.add("grpc-status-details-bin", status.SerializeToString())
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, details=message)


def test_rich_status_details_reach_the_body() -> None:
    violation = error_details_pb2.BadRequest.FieldViolation(field="username", description="must not be empty")
    packed = any_pb2.Any()
    packed.Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    rich = status_pb2.Status(code=3, message="username: must not be empty", details=[packed])
    response = rpc_error_response(_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, rich.message, rich), "user")
    assert response.status_code == 400
    body = json.loads(response.body)
    assert body["code"] == 3 and body["message"] == "username: must not be empty"
    assert body["details"] == [
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": "username", "description": "must not be empty"}],
        }
    ]


def test_plain_status_without_details() -> None:
    status = status_from_rpc_error(_rpc_error(grpc.StatusCode.NOT_FOUND, "no photo 5", None), "photo")
    assert (status.code, status.message, list(status.details)) == (5, "no photo 5", [])


def test_details_inconsistent_with_the_status_line_are_dropped() -> None:
    other = status_pb2.Status(code=7, message="something else")
    status = status_from_rpc_error(_rpc_error(grpc.StatusCode.NOT_FOUND, "no photo 5", other), "photo")
    assert (status.code, status.message) == (5, "no photo 5")


def test_gateway_errors_use_the_same_shape() -> None:
    response = gateway_error_response(invalid_argument("body", "not JSON"))
    assert response.status_code == 400
    body = json.loads(response.body)
    assert body["code"] == 3 and body["details"][0]["fieldViolations"] == [{"field": "body", "description": "not JSON"}]
    too_big = GatewayError(grpc.StatusCode.RESOURCE_EXHAUSTED, "too big", http=413, headers={"X-A": "1"})
    response = gateway_error_response(too_big)
    assert response.status_code == 413 and response.headers["x-a"] == "1"
    assert json.loads(response.body)["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]


LIBRARY_UNAVAILABLE = (
    "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:50051: "
    "Failed to connect to remote host: Connection refused"
)


def test_an_unreachable_service_is_named_not_its_address() -> None:
    response = rpc_error_response(_rpc_error(grpc.StatusCode.UNAVAILABLE, LIBRARY_UNAVAILABLE, None), "photo")
    assert response.status_code == 503
    body = json.loads(response.body)
    assert body == {"code": 14, "message": "the photo service is unavailable, try again"}
    late = status_from_rpc_error(_rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", None), "feed")
    assert late.message == "the feed service did not answer in time"


def test_what_a_service_said_itself_is_kept() -> None:
    starting = status_pb2.Status(code=14, message="service is starting")
    status = status_from_rpc_error(_rpc_error(grpc.StatusCode.UNAVAILABLE, starting.message, starting), "photo")
    assert status.message == "service is starting"
    internal = status_from_rpc_error(_rpc_error(grpc.StatusCode.INTERNAL, "internal error (request id r1)", None), "x")
    assert internal.message == "internal error (request id r1)"


def _precondition_failure(subject: str) -> status_pb2.Status:
    failure = error_details_pb2.PreconditionFailure(
        violations=[
            error_details_pb2.PreconditionFailure.Violation(
                type="IDEMPOTENCY_KEY_REUSED", subject=subject, description="used for a different request"
            )
        ]
    )
    packed = any_pb2.Any()
    packed.Pack(failure)
    return status_pb2.Status(code=9, message=f"{subject}: used for a different request", details=[packed])


def test_failed_precondition_with_a_precondition_failure_is_422() -> None:
    rich = _precondition_failure("metadata.idempotency_key")
    response = rpc_error_response(_rpc_error(grpc.StatusCode.FAILED_PRECONDITION, rich.message, rich), "photo")
    assert response.status_code == 422
    body = json.loads(response.body)
    assert body["code"] == 9 and body["details"][0]["violations"][0]["subject"] == "metadata.idempotency_key"
    bare = rpc_error_response(_rpc_error(grpc.StatusCode.FAILED_PRECONDITION, "not now", None), "photo")
    assert bare.status_code == 400  # as grpc-gateway, without the detail


def test_error_texts_never_carry_undecodable_bytes() -> None:
    error = invalid_argument("caf\udce9", "no such field")
    response = gateway_error_response(error)
    assert json.loads(response.body)["details"][0]["fieldViolations"][0]["field"] == "caf\\udce9"


def test_a_retry_info_is_sent_as_retry_after() -> None:
    """A service's RetryInfo (e.g. too many sign-ins at once) tells a browser when to try again."""
    rich = ResourceExhausted("too many sign-ins at once; retry shortly", retry_after=1.2).rich_status()
    response = rpc_error_response(_rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, rich.message, rich), "user")
    assert (response.status_code, response.headers["retry-after"]) == (429, "2")
    assert json.loads(response.body)["details"] == [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.200s"}
    ]
    plain = rpc_error_response(_rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", None), "user")
    assert "retry-after" not in plain.headers
