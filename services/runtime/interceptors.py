"""Server and client interceptors shared by every service.

Server side, around every handler: request id, the server's lifecycle (starting, serving, draining),
authentication (refusing tokens of deleted accounts), a JSON log line per RPC (or per Nth: AccessLog),
and errors turned into statuses (ServiceError → its code with details; anything unexpected → INTERNAL
with no internals leaked). A request that is not valid protobuf is INVALID_ARGUMENT: the request
deserializer is wrapped, because gRPC would answer its exception as UNKNOWN "Unexpected <class
…DecodeError'>". A client that cancels (or walks away from a stream) is CANCELLED, logged at INFO like
any RPC.

Errors are answered through the runtime's one table (services.runtime.errors.answer_for): the status,
its details, and the line logged about it (a storage fault once at ERROR, an unexpected exception with
its traceback; a ServiceError only through the access line).

Client side: forward the request id and give every call a deadline no later than what the caller has
left. Which token a call carries is decided where the stub is made (services.runtime.channels).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Protocol

import grpc

from services.runtime import callctx, errors, metrics, tracing, tracing_grpc
from services.runtime.auth import TokenAuthority, bearer_token, is_public
from services.runtime.errors import ServiceError, Unauthenticated, Unavailable
from services.runtime.limits import Limiter, TrustedPeers, client_address

rpc_log = logging.getLogger("shutter.rpc")

# The metadata key of a drain marker (see Lifecycle); its value is the process's own secret.
DRAIN_MARKER_KEY = "x-shutter-drain-marker"


class MalformedRequest(ServiceError):
    """The request bytes are not a message of the method's request type."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class Lifecycle:
    """Where the server is, as its interceptor sees it: starting, serving, or draining for shutdown.

    Draining exists because gRPC's shutdown cancels calls it has received but not yet handed to the
    application: Python's aio server asks gRPC core for one call per method at a time, so under load
    calls wait in core's per-method queue, and `grpc_server_shutdown_and_notify` cancels those
    (CANCELLED, which clients do not retry; grpc/grpc#41785) before the grace period even starts.
    So before stopping, the server sends itself one marker call per method (a round). Core queues a
    method's calls in arrival order, so when a method's first marker reaches the interceptor, every
    call for that method received before SIGTERM has reached its handler; calls after it arrived
    after SIGTERM and are refused with UNAVAILABLE (retryable; health says NOT_SERVING already).
    Rounds go on until the handlers have finished, calls have stopped coming and a last round finds
    nothing queued (see server._drain). Health and reflection are neither refused nor counted.
    """

    def __init__(self) -> None:
        self.ready = False
        self._secret = secrets.token_hex(16)
        self._draining = False
        self._past_marker: set[str] = set()
        self._round = ""
        self._awaited: set[str] = set()
        self._round_seen = asyncio.Event()
        self.refused = 0
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._activity = asyncio.Event()

    def new_round(self, methods: set[str]) -> str:
        """Start (or continue) draining; returns the marker value to send with this round's calls."""
        self._draining = True
        self._round = f"{self._secret}:{secrets.token_hex(4)}"
        self._awaited = set(methods)
        self._round_seen = asyncio.Event()
        if not self._awaited:
            self._round_seen.set()
        return self._round

    async def round_seen(self) -> None:
        await self._round_seen.wait()

    def marker(self, method: str, context: grpc.aio.ServicerContext) -> bool:
        """Whether this call is one of the server's own drain markers (recorded if so)."""
        value = next(
            (v for k, v in context.invocation_metadata() or () if k == DRAIN_MARKER_KEY and isinstance(v, str)), None
        )
        if value is None or not value.startswith(self._secret + ":"):
            return False
        self._past_marker.add(method)
        if value == self._round:
            self._awaited.discard(method)
            if not self._awaited:
                self._round_seen.set()
        return True

    def refuses(self, method: str) -> bool:
        """Whether `method` is past its marker: its calls now arrived after SIGTERM (counted)."""
        if self._draining and method in self._past_marker:
            self.refused += 1
            return True
        return False

    def entered(self, method: str) -> bool:
        """A call reached the interceptor; False (not counted) for health and reflection."""
        if method.startswith(_LIFECYCLE_EXEMPT_PREFIXES):
            return False
        self._in_flight += 1
        self._idle.clear()
        self._activity.set()
        return True

    def left(self) -> None:
        self._in_flight -= 1
        self._activity.set()
        if self._in_flight == 0:
            self._idle.set()

    async def idle(self) -> None:
        """Until no handler runs: gRPC's stop returns when core is done with every call, which can be
        before the Python side of an aborted one has finished (grpc/grpc#37239)."""
        await self._idle.wait()

    async def settled(self, quiet: float) -> None:
        """Until no handler runs and no call has come or gone for `quiet` seconds (clients whose calls
        just finished have had time to send their next one)."""
        while True:
            await self._idle.wait()
            self._activity.clear()
            try:
                async with asyncio.timeout(quiet):
                    await self._activity.wait()
            except TimeoutError:
                if self._in_flight == 0:
                    return


class DeletedUserCheck(Protocol):
    """Refuses tokens of deleted accounts (services.runtime.revocation.DeletedUsers)."""

    def check(self, user_id: int, issued_at: float | None) -> None: ...


# Health, reflection and channelz answer during start-up and shutdown (health says NOT_SERVING itself).
_LIFECYCLE_EXEMPT_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.", "/grpc.channelz.")


class _Undecodable:
    """What a request that is not valid protobuf deserializes to; the handler wrapper refuses it."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def error(self) -> MalformedRequest:
        return MalformedRequest(f"the request is not a valid {self.type_name} message")


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None
    message_type = getattr(deserializer, "__self__", None)
    descriptor = getattr(message_type, "DESCRIPTOR", None)
    type_name = getattr(descriptor, "full_name", "request")

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception:
            return _Undecodable(type_name)

    return deserialize


def _checked(request: Any) -> Any:
    if isinstance(request, _Undecodable):
        raise request.error()
    return request


async def _checked_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        yield _checked(request)


class ServerInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        authority: TokenAuthority,
        lifecycle: Lifecycle,
        deleted_users: DeletedUserCheck | None = None,
        access_log: AccessLog | None = None,
        limiter: Limiter | None = None,
        trusted_peers: TrustedPeers | None = None,
    ) -> None:
        self._authority = authority
        self._lifecycle = lifecycle
        self._deleted_users = deleted_users
        self._access_log = access_log or AccessLog()
        self._limiter = limiter
        self._trusted_peers = trusted_peers or TrustedPeers()
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        # Tracing first (services.runtime.tracing_grpc): a recorded call goes through the library's
        # interceptor, outside ours, so its span is current for everything here; any other traced call
        # gets its trace context made current by our own wrapper, with no layer of its own.
        trace_context = tracing_grpc.arriving(details)
        if trace_context is tracing_grpc.RECORD:
            return await tracing_grpc.server_library().intercept_service(
                lambda recorded: self._handler(continuation, recorded, None), details
            )
        return await self._handler(continuation, details, trace_context)

    async def _handler(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
        trace_context: Any,
    ) -> grpc.RpcMethodHandler:
        method = details.method
        if trace_context is None:
            # The usual case: the same wrapped handler for every call of a method, made once (a method's
            # handler never changes once the server has started).
            known = self._wrapped.get(method)
            if known is not None:
                return known
        handler = await continuation(details)
        if handler is None:
            return None
        wrapped = self._wrap(method, handler, trace_context)
        if trace_context is None:
            self._wrapped[method] = wrapped
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler, trace_context: Any) -> grpc.RpcMethodHandler:
        deserializer = _tolerant(handler.request_deserializer)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, handler.unary_unary, trace_context, streaming_request=False),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(method, handler.stream_unary, trace_context, streaming_request=True),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, handler.unary_stream, trace_context, streaming_request=False),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream(method, handler.stream_stream, trace_context, streaming_request=True),
            request_deserializer=deserializer,
            response_serializer=handler.response_serializer,
        )

    def _begin(self, method: str, context: grpc.aio.ServicerContext) -> None:
        """Bind the call context; raise if the caller may not proceed."""
        metadata = context.invocation_metadata() or ()
        # A fresh id is 32 random hex digits, as a uuid4's hex (without building the UUID: every call pays it).
        request_id = next((str(v) for k, v in metadata if k == "x-request-id"), "") or secrets.token_hex(16)
        callctx.bind(None, request_id, context.time_remaining())
        if method.startswith(_LIFECYCLE_EXEMPT_PREFIXES):
            return
        # Before the public check: CreateUser/Authenticate need the store as much as anything else.
        if not self._lifecycle.ready:
            raise Unavailable("service is starting")
        if self._lifecycle.refuses(method):
            raise Unavailable("service is shutting down")
        if is_public(method):
            return
        token = bearer_token(metadata)
        if token is None:
            raise Unauthenticated("missing 'authorization: Bearer <token>' metadata")
        principal = self._authority.verify(token)
        if principal.user_id is not None and self._deleted_users is not None:
            self._deleted_users.check(principal.user_id, principal.issued_at)
        callctx.bind_principal(principal)

    async def _limit(self, method: str, context: grpc.aio.ServicerContext) -> None:
        """Count the call against the limits table (services.runtime.limits); RateLimited when over. Services
        calling on their own behalf are not limited. The figures go back as trailing metadata."""
        metadata = context.invocation_metadata() or ()
        trusted = self._trusted_peers
        # Worked out when asked (here for a limited method, or by the handler): most calls never need it.
        callctx.bind_client_address(lambda: client_address(metadata, context.peer(), trusted))
        current = callctx.principal()
        limiter = self._limiter
        if limiter is None or not limiter.limits(method) or (current is not None and current.user_id is None):
            return
        quota = await limiter.admit(method, current.user_id if current else None, callctx.client_address())
        if quota is not None:
            context.set_trailing_metadata(quota.metadata())

    def _wrap_unary(
        self, method: str, behavior: Callable[..., Awaitable[Any]], trace_context: Any, *, streaming_request: bool
    ) -> Callable[..., Awaitable[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if self._lifecycle.marker(method, context):
                await context.abort(grpc.StatusCode.UNAVAILABLE, "drain marker")  # answered at once, not logged
            started = time.perf_counter()
            budget = context.time_remaining()
            code = grpc.StatusCode.OK
            tracked = self._lifecycle.entered(method)
            trace_token = None if trace_context is None else tracing.entered(trace_context)
            try:
                self._begin(method, context)
                await self._limit(method, context)
                request = _checked_stream(request) if streaming_request else _checked(request)
                return await behavior(request, context)
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception as exc:
                answer = _answer(method, exc)
                code = answer.error.code if answer else context.code() or grpc.StatusCode.UNKNOWN
                if answer is not None:
                    await _abort(context, answer)
                raise
            finally:
                if tracked:
                    self._lifecycle.left()
                _measure(method, code, started)
                self._access_log.record(method, code, started, budget)
                if trace_token is not None:
                    tracing.left(trace_token)

        return wrapped

    def _wrap_stream(
        self, method: str, behavior: Callable[..., AsyncIterator[Any]], trace_context: Any, *, streaming_request: bool
    ) -> Callable[..., AsyncIterator[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            if self._lifecycle.marker(method, context):
                await context.abort(grpc.StatusCode.UNAVAILABLE, "drain marker")  # answered at once, not logged
            started = time.perf_counter()
            budget = context.time_remaining()
            code = grpc.StatusCode.OK
            tracked = self._lifecycle.entered(method)
            trace_token = None if trace_context is None else tracing.entered(trace_context)
            try:
                self._begin(method, context)
                await self._limit(method, context)
                request = _checked_stream(request) if streaming_request else _checked(request)
                produced = behavior(request, context)
                if inspect.isawaitable(produced):  # a handler that writes with context.write (health's Watch)
                    await produced
                    return
                # aclosing: a client that goes away closes the handler's generator too (open blobs…).
                async with contextlib.aclosing(produced) as responses:
                    async for response in responses:
                        yield response
            except (asyncio.CancelledError, GeneratorExit):
                # The client cancelled or went away (gRPC cancels the task, or closes this generator
                # once nobody reads it). Nothing can be answered any more, and nothing may be awaited
                # while a generator is being closed; only the log line remains.
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception as exc:
                if context.cancelled():
                    code = grpc.StatusCode.CANCELLED
                    raise
                answer = _answer(method, exc)
                code = answer.error.code if answer else context.code() or grpc.StatusCode.UNKNOWN
                if answer is not None:
                    await _abort(context, answer)
                raise
            finally:
                if tracked:
                    self._lifecycle.left()
                _measure(method, code, started)
                self._access_log.record(method, code, started, budget)
                if trace_token is not None:
                    tracing.left(trace_token)

        return wrapped


def _answer(method: str, exc: Exception) -> errors.Answer | None:
    """How `exc` is answered, by the error table, its line logged; None for an abort the handler made itself."""
    if isinstance(exc, grpc.aio.AbortError):
        return None
    answer = errors.answer_for(exc, method, callctx.request_id())
    answer.log(method=method, request_id=callctx.request_id())
    return answer


async def _abort(context: grpc.aio.ServicerContext, answer: errors.Answer) -> None:
    """Abort the RPC with the answer's rich status (abort raises, replacing the handler's exception)."""
    status = answer.error.to_status()
    await context.abort(status.code, status.details, (*status.trailing_metadata, *answer.error.trailing_metadata()))


def _measure(method: str, code: grpc.StatusCode, started: float) -> None:
    """An RPC's metrics, observed here rather than by an interceptor of their own (each grpc.aio
    interceptor layer costs every call); health checks, polled by probes, are left out."""
    if metrics.SWITCH.on and not method.startswith(_UNMEASURED_PREFIX):
        metrics.SERVER_RPCS.observe(method, code, time.perf_counter() - started)


_UNMEASURED_PREFIX = "/grpc.health.v1."


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


def forwarded_request_id(metadata: Iterable[tuple[str, Any]]) -> tuple[tuple[str, str], ...]:
    """The request id an outgoing call carries: the caller's, unless the call's metadata names one already."""
    request_id = callctx.request_id()
    if not request_id or any(key == "x-request-id" for key, _ in metadata):
        return ()
    return (("x-request-id", request_id),)


def call_timeout(timeout: float | None, default: float | None) -> float | None:
    """An outgoing call's timeout: `default` when it set none (None: no default), and never later than what
    the caller being served has left."""
    if timeout is None:
        timeout = default
    remaining = callctx.time_remaining()
    if remaining is not None:
        timeout = max(min(timeout if timeout is not None else remaining, remaining), 0.001)
    return timeout


class _CallDetails:
    """Adds the request id and a deadline to an outgoing call: no later than what the caller has left,
    `default_deadline` when it set none (None: no default); and its trace context (services.runtime.
    tracing_grpc: a recorded call goes through the library's interceptor, the others only pass the
    context on, in the same metadata copy). The token is the call site's business
    (services.runtime.channels)."""

    kind = ""  # the kind of call, as tracing_grpc.client_library names it

    def __init__(self, default_deadline: float | None) -> None:
        self._default_deadline = default_deadline

    def _details(self, details: grpc.aio.ClientCallDetails, extra: tuple[tuple[str, str], ...] = ()) -> Any:
        timeout = call_timeout(details.timeout, self._default_deadline)
        given = (*(details.metadata or ()), *extra)
        metadata = grpc.aio.Metadata(*given, *forwarded_request_id(given))
        return grpc.aio.ClientCallDetails(
            details.method, timeout, metadata, details.credentials, details.wait_for_ready
        )

    def _send(self, continuation: Any, details: grpc.aio.ClientCallDetails, request: Any) -> Any:
        """The call, made by `continuation` with our details (an awaitable, as the continuation's)."""
        trace_metadata = tracing_grpc.outgoing(details)
        if trace_metadata is tracing_grpc.RECORD:
            library = tracing_grpc.client_library(self.kind)
            return getattr(library, f"intercept_{self.kind}")(
                lambda recorded, sent: continuation(self._details(recorded), sent), details, request
            )
        return continuation(self._details(details, trace_metadata), request)


class ClientInterceptor(_CallDetails, grpc.aio.UnaryUnaryClientInterceptor):
    """Unary calls: the request id, deadline and trace context (see _CallDetails), and their count and time
    (grpc_client_*). One kind of call per class: grpc.aio files an interceptor under the first kind it
    implements only, so the streaming kinds have classes of their own (`runtime_client_interceptors`)."""

    kind = "unary_unary"

    async def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        if not metrics.SWITCH.on:
            return await self._send(continuation, client_call_details, request)
        # The call's metrics are observed here, not by an interceptor of their own (each grpc.aio layer
        # costs every call); streaming calls get theirs from services.runtime.telemetry.
        started = time.perf_counter()
        call = await self._send(continuation, client_call_details, request)
        method = client_call_details.method
        metrics.CLIENT_RPCS.observe(
            method.decode() if isinstance(method, bytes) else method, await call.code(), time.perf_counter() - started
        )
        return call


class _UnaryStreamDetails(_CallDetails, grpc.aio.UnaryStreamClientInterceptor):
    kind = "unary_stream"

    async def intercept_unary_stream(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return await self._send(continuation, client_call_details, request)


class _StreamUnaryDetails(_CallDetails, grpc.aio.StreamUnaryClientInterceptor):
    kind = "stream_unary"

    async def intercept_stream_unary(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return await self._send(continuation, client_call_details, request_iterator)


class _StreamStreamDetails(_CallDetails, grpc.aio.StreamStreamClientInterceptor):
    kind = "stream_stream"

    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return await self._send(continuation, client_call_details, request_iterator)


def runtime_client_interceptors(default_deadline: float) -> list[_CallDetails]:
    """The runtime's interceptors for a channel: one per kind of call. Calls answering with a stream get
    no default deadline (a watch is open-ended by design); the caller's remaining time still bounds them."""
    return [
        ClientInterceptor(default_deadline),
        _UnaryStreamDetails(None),
        _StreamUnaryDetails(default_deadline),
        _StreamStreamDetails(None),
    ]
