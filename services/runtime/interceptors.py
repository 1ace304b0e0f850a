"""Server and client interceptors shared by every service.

Server side, around every handler: request id, readiness, authentication (refusing tokens of
deleted accounts), a JSON access-log line per RPC (or per Nth: AccessLog), and errors turned into
statuses (ServiceError → its code with details; anything unexpected → INTERNAL with no internals
leaked). Client side: forward the caller's token and request id, and
give every call a deadline no later than what the caller has left.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import grpc

from services.runtime import callctx
from services.runtime.auth import TokenAuthority, bearer_token, is_public
from services.runtime.errors import ServiceError, Unauthenticated, Unavailable

rpc_log = logging.getLogger("shutter.rpc")
error_log = logging.getLogger("shutter.error")

_STATUS_DETAILS = "grpc-status-details-bin"

# Statuses a downstream service may answer that we pass on unchanged rather than hide as INTERNAL.
_PASS_THROUGH = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.FAILED_PRECONDITION,
}


class Readiness:
    """Whether the service's dependencies are up; RPCs before that answer UNAVAILABLE."""

    def __init__(self) -> None:
        self.ready = False


class DeletedUserCheck(Protocol):
    """Whether a user id belongs to a deleted account (services.runtime.revocation.DeletedUsers)."""

    def is_deleted(self, user_id: int) -> bool: ...


# Health and reflection answer during start-up (health says NOT_SERVING itself); everything else waits.
_READINESS_EXEMPT_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class ServerInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        authority: TokenAuthority,
        readiness: Readiness,
        deleted_users: DeletedUserCheck | None = None,
        access_log: AccessLog | None = None,
    ) -> None:
        self._authority = authority
        self._readiness = readiness
        self._deleted_users = deleted_users
        self._access_log = access_log or AccessLog()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return None
        method = details.method
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(method, handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream(method, handler.stream_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _begin(self, method: str, context: grpc.aio.ServicerContext) -> None:
        """Bind the call context; raise if the caller may not proceed."""
        metadata = context.invocation_metadata() or ()
        request_id = next((str(v) for k, v in metadata if k == "x-request-id"), "") or uuid.uuid4().hex
        callctx.bind(None, request_id, context.time_remaining())
        if method.startswith(_READINESS_EXEMPT_PREFIXES):
            return
        # Before the public check: CreateUser/Authenticate need the store as much as anything else.
        if not self._readiness.ready:
            raise Unavailable("service is starting")
        if is_public(method):
            return
        token = bearer_token(metadata)
        if token is None:
            raise Unauthenticated("missing 'authorization: Bearer <token>' metadata")
        principal = self._authority.verify(token)
        if principal.user_id is not None and self._deleted_users and self._deleted_users.is_deleted(principal.user_id):
            raise Unauthenticated("account deleted")
        callctx.bind_principal(principal)

    def _wrap_unary(self, method: str, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            budget = context.time_remaining()
            code = grpc.StatusCode.OK
            try:
                self._begin(method, context)
                return await behavior(request, context)
            except BaseException as exc:
                code = _status_for(exc, context)
                await _abort(context, method, exc)
                raise
            finally:
                self._access_log.record(method, code, started, budget)

        return wrapped

    def _wrap_stream(
        self, method: str, behavior: Callable[..., AsyncIterator[Any]]
    ) -> Callable[..., AsyncIterator[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started = time.perf_counter()
            budget = context.time_remaining()
            code = grpc.StatusCode.OK
            try:
                self._begin(method, context)
                async for response in behavior(request, context):
                    yield response
            except BaseException as exc:
                code = _status_for(exc, context)
                await _abort(context, method, exc)
                raise
            finally:
                self._access_log.record(method, code, started, budget)

        return wrapped


def _status_for(exc: BaseException, context: grpc.aio.ServicerContext) -> grpc.StatusCode:
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    if isinstance(exc, grpc.aio.AbortError):
        return context.code() or grpc.StatusCode.UNKNOWN
    if isinstance(exc, ServiceError):
        return exc.code
    if isinstance(exc, NotImplementedError):
        return grpc.StatusCode.UNIMPLEMENTED
    if isinstance(exc, grpc.aio.AioRpcError) and exc.code() in _PASS_THROUGH:
        return exc.code()
    return grpc.StatusCode.INTERNAL


async def _abort(context: grpc.aio.ServicerContext, method: str, exc: BaseException) -> None:
    """Abort the RPC with the status `exc` stands for (abort raises, replacing `exc`).

    Cancellation and handler-made aborts pass through untouched.
    """
    if isinstance(exc, asyncio.CancelledError | grpc.aio.AbortError):
        return
    if isinstance(exc, ServiceError):
        status = exc.to_status()
        await context.abort(status.code, status.details, status.trailing_metadata)
    if isinstance(exc, NotImplementedError):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented yet")
    if isinstance(exc, grpc.aio.AioRpcError) and exc.code() in _PASS_THROUGH:
        # The rich details (e.g. BadRequest naming page_token) travel on, so callers still learn which field.
        details = tuple((key, value) for key, value in exc.trailing_metadata() or () if key == _STATUS_DETAILS)
        await context.abort(exc.code(), exc.details() or exc.code().name.lower(), details)
    error_log.error("unhandled error", exc_info=exc, extra={"method": method, "request_id": callctx.request_id()})
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error (request id {callctx.request_id()})")


class AccessLog:
    """The access log: one JSON line per RPC, or per `every` RPCs of each method (failures always).

    At thousands of RPCs a second a line per call costs more CPU than many handlers do; sampled
    lines carry `sample_of` (each stands for that many calls of its method, so counts stay
    recoverable from the log), lines written only because a call failed carry `sample_of: 0`.
    `deadline_ms` is what the caller allowed on arrival, so deadline propagation stays visible.
    """

    def __init__(self, every: int = 1) -> None:
        if every < 1:
            raise ValueError("the access log keeps at least one line in every 1")
        self._every = every
        self._calls: dict[str, int] = {}

    def record(self, method: str, code: grpc.StatusCode, started: float, budget: float | None) -> None:
        calls = self._calls.get(method, 0) + 1
        self._calls[method] = calls
        sampled = calls % self._every == 0
        if not (sampled or code is not grpc.StatusCode.OK) or not rpc_log.isEnabledFor(logging.INFO):
            return
        current = callctx.principal()
        rpc_log.info(
            "rpc",
            extra={
                "method": method,
                "status": code.name,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "deadline_ms": None if budget is None else round(budget * 1000, 1),
                "request_id": callctx.request_id(),
                "user_id": current.user_id if current else None,
                "sample_of": self._every if sampled else 0,
            },
        )


class ClientInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
    grpc.aio.StreamUnaryClientInterceptor,
    grpc.aio.StreamStreamClientInterceptor,
):
    """Adds auth and request id metadata and a deadline to every outgoing call.

    `own_token` is the process's service token for calls made outside any user's request; None
    means never add one (the gateway forwards only what its client sent).
    """

    def __init__(self, default_deadline: float, own_token: Callable[[], str] | None) -> None:
        self._default_deadline = default_deadline
        self._own_token = own_token

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        timeout = details.timeout if details.timeout is not None else self._default_deadline
        remaining = callctx.time_remaining()
        if remaining is not None:
            timeout = max(min(timeout, remaining), 0.001)
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        if "authorization" not in metadata:
            current = callctx.principal()
            token = current.token if current else (self._own_token() if self._own_token else None)
            if token:
                metadata["authorization"] = f"Bearer {token}"
        request_id = callctx.request_id()
        if request_id and "x-request-id" not in metadata:
            metadata["x-request-id"] = request_id
        return grpc.aio.ClientCallDetails(
            details.method, timeout, metadata, details.credentials, details.wait_for_ready
        )

    async def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return await continuation(self._details(client_call_details), request)

    async def intercept_unary_stream(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return await continuation(self._details(client_call_details), request)

    async def intercept_stream_unary(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return await continuation(self._details(client_call_details), request_iterator)

    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return await continuation(self._details(client_call_details), request_iterator)
