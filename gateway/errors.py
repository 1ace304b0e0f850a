"""gRPC statuses as HTTP answers: grpc-gateway's status table and `google.rpc.Status` JSON bodies.

Errors the gateway finds itself (malformed JSON, an unknown path, an oversized upload) use the
same body shape, so a client reads every failure the same way.

Two departures from the table, both about what the status says rather than its code:
- FAILED_PRECONDITION carrying a `google.rpc.PreconditionFailure` is 422, not 400: the request was
  well-formed but the state it depends on rules it out — e.g. an idempotency key already used for a
  different request, which the IETF Idempotency-Key draft answers with 422. A service opts in by
  sending that detail; a bare FAILED_PRECONDITION stays 400.
- A status the service did not write — no `google.rpc.Status` details (every error the shared runtime
  raises has them) and a code the gRPC library makes up itself when the service cannot be reached or
  the call dies in transport — gets a plain message naming the service, never the library's text,
  which names upstream addresses ("ipv4:127.0.0.1:50051: Failed to connect…").

Statuses and their details are built and read with the runtime's code (services.runtime.errors), the same
the services use; a google.rpc.RetryInfo in a status is also sent as `Retry-After`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import grpc
from google.protobuf import any_pb2, json_format
from google.rpc import error_details_pb2, status_pb2
from starlette.responses import JSONResponse

from services.runtime.errors import CODES_BY_NUMBER, ServiceError, bad_request, peer_status, retry_after_seconds
from services.runtime.limits import RATELIMIT_KEYS

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
HEADERS_TOO_LARGE = 431
UNPROCESSABLE = 422


def http_status(code: grpc.StatusCode) -> int:
    return HTTP_STATUS.get(code, 500)


# Client-given names are echoed in errors: bounded, and undecodable bytes escaped (JSON cannot carry them).
_MAX_ECHOED_NAME = 64


def shown(name: str) -> str:
    """A name the client sent, as an error may quote it."""
    return _escaped(name[:_MAX_ECHOED_NAME])


def _escaped(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class GatewayError(ServiceError):
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
        super().__init__(_escaped(message))
        self.code = code
        self.violations = tuple((_escaped(name), _escaped(text)) for name, text in violations)
        self.http = http if http is not None else http_status(code)
        self.headers = headers or {}

    def details(self) -> list[any_pb2.Any]:
        return [bad_request(self.violations)] if self.violations else []


def invalid_argument(field: str, description: str) -> GatewayError:
    """400 naming `field` (a proto field path, or `body`, or a header) with a plain description."""
    return GatewayError(grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {description}", violations=((field, description),))


def status_from_rpc_error(error: grpc.aio.AioRpcError, service: str) -> status_pb2.Status:
    """The rich status a service sent (`grpc-status-details-bin`), or one built from code + message
    — with the runtime's words naming the service when the gRPC library, not the service, wrote it."""
    return peer_status(error, f"the {service} service")


def http_status_for(status: status_pb2.Status) -> int:
    """The table's answer, except FAILED_PRECONDITION with a PreconditionFailure detail: 422."""
    code = CODES_BY_NUMBER.get(status.code, grpc.StatusCode.UNKNOWN)
    if code == grpc.StatusCode.FAILED_PRECONDITION and any(
        detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR) for detail in status.details
    ):
        return UNPROCESSABLE
    return http_status(code)


def status_response(status: status_pb2.Status, http: int, headers: dict[str, str] | None = None) -> JSONResponse:
    """The status as JSON; a RetryInfo it carries also becomes `Retry-After` (whole seconds, rounded up)."""
    body = json_format.MessageToDict(status)
    retry_after = retry_after_seconds(status)
    if retry_after is not None:
        headers = {"Retry-After": str(max(math.ceil(retry_after), 0)), **(headers or {})}
    return JSONResponse(body, status_code=http, headers=headers)


def ratelimit_headers(metadata: Sequence[tuple[str, str | bytes]] | None) -> dict[str, str]:
    """A service's rate-limit figures (trailing metadata, services.runtime.limits) as the IETF RateLimit header
    fields of draft-ietf-httpapi-ratelimit-headers-06: RateLimit-Limit, -Remaining, -Reset and -Policy. Only
    these keys pass, and only from the service's answer: a client cannot set them."""
    return {
        _HEADER_NAMES[key]: value
        for key, value in metadata or ()
        if key in _HEADER_NAMES and isinstance(value, str) and value.isascii() and value.isprintable()
    }


_HEADER_NAMES = {key: "-".join(part.capitalize() if part != "ratelimit" else "RateLimit" for part in key.split("-"))
                 for key in RATELIMIT_KEYS}  # fmt: skip


def rpc_error_response(error: grpc.aio.AioRpcError, service: str, http: int | None = None) -> JSONResponse:
    """The answer for a failed call to `service` (a topology name, used in messages the gateway writes)."""
    status = status_from_rpc_error(error, service)
    headers = ratelimit_headers(error.trailing_metadata())  # type: ignore[arg-type]
    return status_response(status, http if http is not None else http_status_for(status), headers)


def gateway_error_response(error: GatewayError) -> JSONResponse:
    return status_response(error.rich_status(), error.http, error.headers)
