"""Errors a handler raises; the server interceptor turns them into rich gRPC statuses.

Handlers and stores raise these instead of calling `context.abort` so that validation and storage
code stays free of gRPC plumbing. INVALID_ARGUMENT carries `google.rpc.BadRequest` field violations.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import sqlite3
from collections.abc import Iterable, Iterator

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.runtime.text import text_problem


class ServiceError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> list[any_pb2.Any]:
        return []

    def to_status(self) -> grpc.Status:
        status = status_pb2.Status(code=self.code.value[0], message=self.message)
        for detail in self.details():
            status.details.append(detail)
        return rpc_status.to_status(status)


class InvalidArgument(ServiceError):
    """Bad input; names every offending field."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, description: str, *more: tuple[str, str]) -> None:
        self.violations: list[tuple[str, str]] = [(field, description), *more]
        super().__init__("; ".join(f"{f}: {d}" for f, d in self.violations))

    def details(self) -> list[any_pb2.Any]:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in self.violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad_request)
        return [packed]


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(ServiceError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(ServiceError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(ServiceError):
    code = grpc.StatusCode.UNAUTHENTICATED


class ResourceExhausted(ServiceError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(ServiceError):
    """The request cannot be served as things stand; each violation (type, subject, description) goes into a
    `google.rpc.PreconditionFailure` detail, so a client can tell which precondition failed and on what."""

    code = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, message: str, *violations: tuple[str, str, str]) -> None:
        super().__init__(message)
        self.violations = list(violations)

    def details(self) -> list[any_pb2.Any]:
        if not self.violations:
            return []
        failure = error_details_pb2.PreconditionFailure(
            violations=[
                error_details_pb2.PreconditionFailure.Violation(type=kind, subject=subject, description=description)
                for kind, subject, description in self.violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(failure)
        return [packed]


class Unavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(ServiceError):
    """The caller's time ran out waiting for something this answer needs."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class DataLoss(ServiceError):
    """Stored bytes no longer match their checksum."""

    code = grpc.StatusCode.DATA_LOSS


class Violations:
    """Collects every bad field of a request, so one answer names them all."""

    def __init__(self) -> None:
        self._items: list[tuple[str, str]] = []

    def add(self, field: str, description: str) -> None:
        self._items.append((field, description))

    def check(self, ok: bool, field: str, description: str) -> None:
        if not ok:
            self.add(field, description)

    def check_text(self, field: str, value: str, max_chars: int, *, multiline: bool = False) -> None:
        """Name `field` unless `value` passes the one text rule every service applies (runtime/text.py)."""
        problem = text_problem(value, max_chars, multiline=multiline)
        if problem is not None:
            self.add(field, problem)

    def extend(self, items: Iterable[tuple[str, str]]) -> None:
        self._items.extend(items)

    def raise_if_any(self) -> None:
        if self._items:
            first, *rest = self._items
            raise InvalidArgument(*first, *rest)


storage_log = logging.getLogger("shutter.storage")

# Out of space: RESOURCE_EXHAUSTED, as gRPC's status codes define it ("perhaps the entire file system is out
# of space"). Any other fault of our own storage (read-only, I/O error, …): UNAVAILABLE, retryable.
_NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SQLITE_FULL = 13
# SQLite's primary result codes for a store that cannot be read or written (extended codes keep them in
# their low byte): READONLY, IOERR, CORRUPT, CANTOPEN, NOTADB.
_SQLITE_STORAGE_FAULTS = frozenset({8, 10, 11, 14, 26})


def storage_fault(exc: BaseException) -> ServiceError | None:
    """The answer for a fault of the server's own storage, or None when `exc` is not one.

    An OSError with an errno (ENOSPC, EROFS, EIO, …) comes from the kernel, on a file the server
    wrote; the client's bytes cannot be blamed for it. Image decoders report bad input without an errno.
    """
    if isinstance(exc, OSError) and exc.errno is not None:
        if exc.errno in _NO_SPACE_ERRNOS:
            return ResourceExhausted("the server is out of storage space; try again later")
        return Unavailable("the server could not use its storage; try again later")
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF == _SQLITE_FULL:
            return ResourceExhausted("the server is out of storage space; try again later")
        if code is not None and code & 0xFF in _SQLITE_STORAGE_FAULTS:
            return Unavailable("the server could not use its storage; try again later")
    return None


@contextlib.contextmanager
def storage_faults(doing: str) -> Iterator[None]:
    """Answer a storage fault raised inside as RESOURCE_EXHAUSTED or UNAVAILABLE (see storage_fault), logged
    here once at ERROR with its cause and without a traceback; every other exception passes untouched."""
    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        answer = storage_fault(exc)
        if answer is None:
            raise
        from services.runtime import callctx  # callctx imports this module

        storage_log.error(
            "storage fault",
            extra={
                "doing": doing,
                "error": f"{type(exc).__name__}: {exc}",
                "errno": errno.errorcode.get(getattr(exc, "errno", None) or -1),
                "sqlite_error": getattr(exc, "sqlite_errorname", None),
                "answer": answer.code.name,
                "request_id": callctx.request_id(),
            },
        )
        raise answer from exc
