"""Errors and what they mean, in one table: every failure's gRPC status, details, retryability and log line.

Handlers and stores raise ServiceErrors (a store's own exceptions subclass the one they mean: a like's
PhotoGone is a NotFound) instead of calling `context.abort`, so validation and storage code stays free of
gRPC plumbing. Everything else is looked up by `answer_for`, used by every party that meets a failure:

- the server interceptor answers with `answer.error`'s rich status and writes `answer`'s log line;
- event consumers retry a `retryable` failure for as long as it lasts and dead-letter the others;
- client stubs (services.runtime.channels) raise a peer's status as the ServiceError it stands for, so
  NOT_FOUND and UNAVAILABLE keep their meaning one hop further and no address leaks;
- the gateway builds its google.rpc.Status bodies and details with the same code.

The table has two halves. STATUS_TABLE says, per gRPC status code, whether trying again can help and
whether a peer's answer with that code passes on to our own caller (else INTERNAL). Exceptions that are
not ServiceErrors are classified by type: the runtime registers OS faults (ENOSPC is RESOURCE_EXHAUSTED,
any other errno on our own files UNAVAILABLE, both logged once at ERROR as a storage fault) and
`NotImplementedError`; each storage driver and the event bus register their own exceptions with
`register` from the module that is imported only when they are used (services.runtime.sqlite,
services.runtime.cql, services.runtime.events). Anything unclassified is INTERNAL, logged with its
traceback, and answered with the request id only.
"""

from __future__ import annotations

import contextlib
import errno
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.runtime.text import text_problem

error_log = logging.getLogger("shutter.error")
storage_log = logging.getLogger("shutter.storage")


class Meaning(NamedTuple):
    retryable: bool  # the same request may succeed later: consumers retry it without giving up, clients may
    relayed: bool  # a peer answering this keeps its code in our answer; otherwise our caller gets INTERNAL


_S = grpc.StatusCode
# fmt: off
STATUS_TABLE: dict[grpc.StatusCode, Meaning] = {
    _S.OK:                  Meaning(retryable=False, relayed=False),
    _S.CANCELLED:           Meaning(retryable=False, relayed=False),
    _S.UNKNOWN:             Meaning(retryable=False, relayed=False),
    _S.INVALID_ARGUMENT:    Meaning(retryable=False, relayed=True),
    _S.DEADLINE_EXCEEDED:   Meaning(retryable=True,  relayed=True),
    _S.NOT_FOUND:           Meaning(retryable=False, relayed=True),
    _S.ALREADY_EXISTS:      Meaning(retryable=False, relayed=False),
    _S.PERMISSION_DENIED:   Meaning(retryable=False, relayed=True),
    _S.RESOURCE_EXHAUSTED:  Meaning(retryable=True,  relayed=True),
    _S.FAILED_PRECONDITION: Meaning(retryable=False, relayed=True),
    _S.ABORTED:             Meaning(retryable=True,  relayed=False),
    _S.OUT_OF_RANGE:        Meaning(retryable=False, relayed=False),
    _S.UNIMPLEMENTED:       Meaning(retryable=False, relayed=False),
    _S.INTERNAL:            Meaning(retryable=False, relayed=False),
    _S.UNAVAILABLE:         Meaning(retryable=True,  relayed=True),
    _S.DATA_LOSS:           Meaning(retryable=False, relayed=False),
    _S.UNAUTHENTICATED:     Meaning(retryable=False, relayed=True),
}
# fmt: on
CODES_BY_NUMBER: dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}

# What a status the gRPC library made itself (no google.rpc.Status details: the peer never answered, or the
# call died in transport) says instead of the library's text, which names addresses ("ipv4:10.0.0.7:50053:
# Failed to connect…"). `peer` is e.g. "the photo service" (the gateway) or "photo" (a service).
LIBRARY_MESSAGES: dict[grpc.StatusCode, str] = {
    _S.UNAVAILABLE: "{peer} is unavailable, try again",
    _S.UNKNOWN: "the call to {peer} failed, try again",
    _S.DEADLINE_EXCEEDED: "{peer} did not answer in time",
    _S.CANCELLED: "the call to {peer} was cancelled",
}
UNNAMED_PEER = "a service this call needs"
# A peer's UNAVAILABLE, passed on by a service: always in these words, since the peer's own ("service is
# starting") would read as the service's.
RELAYED_UNAVAILABLE = "{peer} is unavailable"

# -- google.rpc details ------------------------------------------------------------------------------------


def packed(detail: Message) -> any_pb2.Any:
    box = any_pb2.Any()
    box.Pack(detail)
    return box


def bad_request(violations: Iterable[tuple[str, str]]) -> any_pb2.Any:
    """A google.rpc.BadRequest naming each (field, description)."""
    return packed(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=name, description=description)
                for name, description in violations
            ]
        )
    )


def precondition_failure(violations: Iterable[tuple[str, str, str]]) -> any_pb2.Any:
    """A google.rpc.PreconditionFailure with each (type, subject, description)."""
    return packed(
        error_details_pb2.PreconditionFailure(
            violations=[
                error_details_pb2.PreconditionFailure.Violation(type=kind, subject=subject, description=description)
                for kind, subject, description in violations
            ]
        )
    )


def retry_info(seconds: float) -> any_pb2.Any:
    """A google.rpc.RetryInfo: when trying again makes sense (the gateway sends it as Retry-After)."""
    delay = duration_pb2.Duration()
    delay.FromNanoseconds(int(seconds * 1e9))
    return packed(error_details_pb2.RetryInfo(retry_delay=delay))


def unpacked(details: Iterable[any_pb2.Any], kind: type[Message]) -> list[Any]:
    """The details of one google.rpc type, decoded."""
    found = []
    for detail in details:
        if detail.Is(kind.DESCRIPTOR):
            message = kind()
            detail.Unpack(message)
            found.append(message)
    return found


def retry_after_seconds(status: status_pb2.Status) -> float | None:
    """The RetryInfo delay a status carries, if any."""
    infos = unpacked(status.details, error_details_pb2.RetryInfo)
    return infos[0].retry_delay.ToNanoseconds() / 1e9 if infos else None


# -- the errors a handler raises ---------------------------------------------------------------------------


class ServiceError(Exception):
    """An answer to the caller: its code, a message for people, and google.rpc details for programs.

    `retry_after` (seconds) adds a RetryInfo. An error relayed from a peer (`from_rich_status`) keeps that
    peer's details exactly.
    """

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self._relayed: list[any_pb2.Any] | None = None

    @property
    def retryable(self) -> bool:
        return STATUS_TABLE[self.code].retryable

    def details(self) -> list[any_pb2.Any]:
        """This error's own google.rpc details (subclasses add theirs)."""
        return []

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        """Metadata sent with the answer beside the status (a rate limit's figures, say)."""
        return ()

    def rich_status(self) -> status_pb2.Status:
        if self._relayed is not None:
            details = self._relayed
        else:
            details = [*self.details(), *([retry_info(self.retry_after)] if self.retry_after is not None else [])]
        return status_pb2.Status(code=self.code.value[0], message=self.message, details=details)

    def to_status(self) -> grpc.Status:
        """What `context.abort` sends: code, message and the details in `grpc-status-details-bin`."""
        return rpc_status.to_status(self.rich_status())


class InvalidArgument(ServiceError):
    """Bad input; names every offending field."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, description: str, *more: tuple[str, str]) -> None:
        self.violations: list[tuple[str, str]] = [(field, description), *more]
        super().__init__("; ".join(f"{f}: {d}" for f, d in self.violations))

    def details(self) -> list[any_pb2.Any]:
        return [bad_request(self.violations)]


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
        return [precondition_failure(self.violations)] if self.violations else []


class Unavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(ServiceError):
    """The caller's time ran out waiting for something this answer needs."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class DataLoss(ServiceError):
    """Stored bytes no longer match their checksum."""

    code = grpc.StatusCode.DATA_LOSS


class Unimplemented(ServiceError):
    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(ServiceError):
    """A failure nobody classified: the caller learns only the request id to quote."""

    code = grpc.StatusCode.INTERNAL


ERROR_CLASSES: dict[grpc.StatusCode, type[ServiceError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        Unauthenticated,
        ResourceExhausted,
        FailedPrecondition,
        Unavailable,
        DeadlineExceeded,
        DataLoss,
        Unimplemented,
        Internal,
    )
}


def from_rich_status(status: status_pb2.Status) -> ServiceError:
    """The ServiceError a google.rpc.Status stands for (its class by code), keeping its details exactly and
    decoding the ones code reads (violations, retry delay)."""
    code = CODES_BY_NUMBER.get(status.code, grpc.StatusCode.UNKNOWN)
    cls = ERROR_CLASSES.get(code, ServiceError)
    error = cls.__new__(cls)
    ServiceError.__init__(error, status.message, retry_after=retry_after_seconds(status))
    if cls is ServiceError:
        error.code = code
    if isinstance(error, InvalidArgument):
        error.violations = [
            (v.field, v.description)
            for request in unpacked(status.details, error_details_pb2.BadRequest)
            for v in request.field_violations
        ]
    if isinstance(error, FailedPrecondition):
        error.violations = [
            (v.type, v.subject, v.description)
            for failure in unpacked(status.details, error_details_pb2.PreconditionFailure)
            for v in failure.violations
        ]
    error._relayed = list(status.details)
    return error


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


# -- what a peer answered ---------------------------------------------------------------------------------


def peer_status(error: grpc.aio.AioRpcError, peer: str = UNNAMED_PEER) -> status_pb2.Status:
    """A peer's answer as a google.rpc.Status: the rich status it wrote itself, or, when the gRPC library made
    the status (no details), one in our words naming `peer` ("the photo service"), never an address."""
    try:
        rich = rpc_status.from_call(error)  # type: ignore[arg-type]
    except ValueError:  # details inconsistent with the status line: trust the status line
        rich = None
    if rich is not None:
        return rich
    code = error.code()
    template = LIBRARY_MESSAGES.get(code)
    message = template.format(peer=peer) if template else error.details() or code.name.lower()
    return status_pb2.Status(code=code.value[0], message=message)


def relayed(error: grpc.aio.AioRpcError, peer: str = UNNAMED_PEER) -> BaseException:
    """What to raise for a peer's failure: the ServiceError its status stands for when STATUS_TABLE relays
    the code (UNAVAILABLE in our words: a peer's "service is starting" would read as ours), else `error`
    itself, which the server answers as INTERNAL."""
    code = error.code()
    if not STATUS_TABLE.get(code, STATUS_TABLE[grpc.StatusCode.UNKNOWN]).relayed:
        return error
    status = peer_status(error, peer)
    if code == grpc.StatusCode.UNAVAILABLE:
        status.message = RELAYED_UNAVAILABLE.format(peer=peer)
    return from_rich_status(status)


# -- everything else, by exception type --------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """How a failure is answered: the error the caller gets, whether trying again can help, and the line the
    process logs about it (`log_level` NOTSET: none beyond the access log's status)."""

    error: ServiceError
    retryable: bool
    log_level: int = logging.NOTSET
    log_message: str = ""
    logger: logging.Logger = error_log
    traceback: BaseException | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def storage_fault(self) -> bool:
        return self.logger is storage_log

    def log(self, **context: Any) -> None:
        if self.log_level != logging.NOTSET:
            extra = {**self.fields, "answer": self.error.code.name, **context}
            self.logger.log(self.log_level, self.log_message, exc_info=self.traceback, extra=extra)


Classifier = Callable[[BaseException, str], "Answer | None"]
_CLASSIFIERS: dict[type[BaseException], Classifier] = {}


def register(kind: type[BaseException], classifier: Classifier) -> None:
    """Classify exceptions of `kind` (and its subclasses): `classifier(exc, where)` returns the Answer, or
    None to leave `exc` to the rules for its base classes (in the end: INTERNAL)."""
    _CLASSIFIERS[kind] = classifier


def answered(error: ServiceError) -> Answer:
    """The answer to a ServiceError: itself, and no line beyond the access log."""
    return Answer(error, error.retryable)


def outage(what: str, exc: BaseException) -> Answer:
    """UNAVAILABLE because a dependency (`what`: "the database", "NATS") is down: retryable, one WARNING line
    with the cause and no traceback."""
    return Answer(
        Unavailable(f"{what} is unavailable; try again later"),
        retryable=True,
        log_level=logging.WARNING,
        log_message="dependency unavailable",
        fields={"dependency": what, "error": f"{type(exc).__name__}: {exc}"[:300]},
    )


def storage_answer(error: ServiceError, exc: BaseException, **fields: Any) -> Answer:
    """A fault of the server's own storage: logged once at ERROR with its cause, without a traceback."""
    return Answer(
        error,
        retryable=True,
        log_level=logging.ERROR,
        log_message="storage fault",
        logger=storage_log,
        fields={"error": f"{type(exc).__name__}: {exc}", **fields},
    )


def out_of_space(exc: BaseException, **fields: Any) -> Answer:
    # RESOURCE_EXHAUSTED, as gRPC's status codes define it ("perhaps the entire file system is out of space").
    return storage_answer(ResourceExhausted("the server is out of storage space; try again later"), exc, **fields)


def storage_unusable(exc: BaseException, **fields: Any) -> Answer:
    return storage_answer(Unavailable("the server could not use its storage; try again later"), exc, **fields)


def answer_for(exc: BaseException, where: str = "", request_id: str | None = None) -> Answer:
    """The one lookup: how `exc`, raised while serving `where` (a method or a consumer), is answered."""
    if isinstance(exc, ServiceError):
        return answered(exc)
    if isinstance(exc, grpc.aio.AioRpcError):
        passed = relayed(exc)
        if isinstance(passed, ServiceError):
            return answered(passed)
        meaning = STATUS_TABLE.get(exc.code(), STATUS_TABLE[grpc.StatusCode.UNKNOWN])
        return _unhandled(exc, request_id, retryable=meaning.retryable)
    for kind in type(exc).__mro__:
        classifier = _CLASSIFIERS.get(kind)
        if classifier is not None:
            answer = classifier(exc, where)
            if answer is not None:
                return answer
    return _unhandled(exc, request_id, retryable=False)


def _unhandled(exc: BaseException, request_id: str | None, *, retryable: bool) -> Answer:
    return Answer(
        Internal(f"internal error (request id {request_id})"),
        retryable=retryable,
        log_level=logging.ERROR,
        log_message="unhandled error",
        traceback=exc,
    )


_NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def _os_error(exc: BaseException, where: str) -> Answer | None:
    """An OSError with an errno comes from the kernel, on a file the server wrote: the client cannot be blamed
    for it. Out of space: RESOURCE_EXHAUSTED; any other (read-only, I/O error, …): UNAVAILABLE. Image decoders
    report bad input without an errno."""
    assert isinstance(exc, OSError)
    if exc.errno is None:
        return None
    fault = out_of_space if exc.errno in _NO_SPACE_ERRNOS else storage_unusable
    return fault(exc, errno=errno.errorcode.get(exc.errno))


register(OSError, _os_error)
register(ConnectionError, lambda exc, where: outage("a dependency", exc))
register(TimeoutError, lambda exc, where: outage("a dependency", exc))
register(NotImplementedError, lambda exc, where: answered(Unimplemented(f"{where or 'this'} is not implemented yet")))


# -- storage faults inside one operation -------------------------------------------------------------------


def storage_fault(exc: BaseException) -> ServiceError | None:
    """The answer for a fault of the server's own storage, or None when `exc` is not one."""
    answer = answer_for(exc)
    return answer.error if answer.storage_fault else None


@contextlib.contextmanager
def storage_faults(doing: str) -> Iterator[None]:
    """Answer a storage fault raised inside as RESOURCE_EXHAUSTED or UNAVAILABLE (see storage_fault), logged
    here once at ERROR with its cause and without a traceback; every other exception passes untouched."""
    try:
        yield
    except Exception as exc:
        answer = answer_for(exc)
        if not answer.storage_fault:
            raise
        from services.runtime import callctx  # callctx imports this module

        answer.log(doing=doing, request_id=callctx.request_id())
        raise answer.error from exc
