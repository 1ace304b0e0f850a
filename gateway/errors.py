"""gRPC statuses as HTTP answers: grpc-gateway's status table and `google.rpc.Status` JSON bodies.

Errors the gateway finds itself (malformed JSON, an unknown path, an oversized upload) use the
same body shape, so a client reads every failure the same way.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, json_format
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from starlette.responses import JSONResponse

# As grpc-gateway maps them (runtime/errors.go HTTPStatusFromCode).
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}

PAYLOAD_TOO_LARGE = 413


def http_status(code: grpc.StatusCode) -> int:
    return HTTP_STATUS.get(code, 500)


class GatewayError(Exception):
    """A request the gateway itself refuses, before or instead of calling a service."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        violations: tuple[tuple[str, str], ...] = (),
        http: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.violations = violations
        self.http = http if http is not None else http_status(code)
        self.headers = headers or {}

    def to_status(self) -> status_pb2.Status:
        status = status_pb2.Status(code=self.code.value[0], message=self.message)
        if self.violations:
            bad_request = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=name, description=description)
                    for name, description in self.violations
                ]
            )
            packed = any_pb2.Any()
            packed.Pack(bad_request)
            status.details.append(packed)
        return status


def invalid_argument(field: str, description: str) -> GatewayError:
    return GatewayError(grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {description}", violations=((field, description),))


def status_from_rpc_error(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The rich status a service sent (`grpc-status-details-bin`), or one built from code + message."""
    try:
        rich = rpc_status.from_call(error)  # type: ignore[arg-type]
    except ValueError:  # details inconsistent with the status line: trust the status line
        rich = None
    if rich is not None:
        return rich
    return status_pb2.Status(code=error.code().value[0], message=error.details() or "")


def status_response(status: status_pb2.Status, http: int, headers: dict[str, str] | None = None) -> JSONResponse:
    body = json_format.MessageToDict(status)
    return JSONResponse(body, status_code=http, headers=headers)


def rpc_error_response(error: grpc.aio.AioRpcError, http: int | None = None) -> JSONResponse:
    return status_response(status_from_rpc_error(error), http if http is not None else http_status(error.code()))


def gateway_error_response(error: GatewayError) -> JSONResponse:
    return status_response(error.to_status(), error.http, error.headers)
