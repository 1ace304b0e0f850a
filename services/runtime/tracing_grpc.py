"""Tracing of gRPC calls: the server and client interceptors every server and channel of the runtime puts
first (services.runtime.telemetry), when tracing is on (services.runtime.tracing).

They are opentelemetry-instrumentation-grpc's grpc.aio interceptors, with two changes:
- client-streaming calls get our interceptor: the library's awaits the call's status before returning
  the call, and a request stream written with `call.write()` (the gateway's uploads) cannot start
  until the interceptors have returned, so the call would hang until its deadline;
- requests that will not be recorded take a fast path (below): those their caller chose not to
  record, and new traces whose sampling, decided before the library does any work, says no.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from services.runtime import tracing
from services.runtime.tracing import _STATE, unsampled, unsampled_parent

# Probes and tooling poll these; a trace per health check would bury the requests.
UNTRACED_SERVICES = ("grpc.health.v1.", "grpc.reflection.", "grpc.channelz.")


def _method(details: Any) -> str:
    return details.method.decode() if isinstance(details.method, bytes) else details.method


def _traced(details: Any) -> bool:
    return not _method(details).lstrip("/").startswith(UNTRACED_SERVICES)


def server_interceptors() -> list[Any]:
    """The grpc.aio server interceptors that open a SERVER span per RPC (none when tracing is off)."""
    if _STATE.provider is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [_UnsampledServerFastPath(aio_server_interceptor(tracer_provider=_STATE.provider, filter_=_traced))]


# At a low sample ratio nearly every request is one that will not be recorded: its caller chose not to
# record it, or it starts a trace (no incoming context) that the sampler drops. The library would still
# build a span for it (attributes, peer parsing, a proxy around the servicer context) and record
# nothing; a third of the CPU of a small RPC at 1% sampling went there. Such requests take a fast path
# instead: the caller's context (or the new unsampled trace's, tracing.new_root) is made current as it
# is (so log lines carry its trace id and calls made from here forward the decision, W3C's "pass the
# traceparent on unchanged"), and nothing else.


def _incoming_traceparent(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "traceparent":
            return value if isinstance(value, str) else None
    return None


class _UnsampledServerFastPath(grpc.aio.ServerInterceptor):
    """The library's server interceptor, except for requests that will not be recorded: those whose
    caller did not sample them, and new traces (no incoming context) whose sampling, decided here first,
    says no."""

    def __init__(self, library: grpc.aio.ServerInterceptor) -> None:
        self._library = library

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        incoming = _incoming_traceparent(details.invocation_metadata)
        if incoming is None:
            if not _traced(details):
                return await continuation(details)
            # Decided in the task the handler runs in (grpc.aio runs a call's interceptors and its
            # handler in one task), so a sampled root's id reaches the library's span.
            _trace_id, parent = tracing.new_root(details.method)
            if parent is None:
                return await self._library.intercept_service(continuation, details)
        elif unsampled(incoming):
            parent = unsampled_parent(incoming)
        else:
            return await self._library.intercept_service(continuation, details)
        handler = await continuation(details)
        if handler is None:
            return None
        codecs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(_within_unary(parent, handler.unary_unary), **codecs)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(_within_unary(parent, handler.stream_unary), **codecs)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(_within_stream(parent, handler.unary_stream), **codecs)
        return grpc.stream_stream_rpc_method_handler(_within_stream(parent, handler.stream_stream), **codecs)


def _within_unary(parent: Any, behavior: Any) -> Any:
    async def within(request: Any, context: Any) -> Any:
        token = otel_context.attach(parent)
        try:
            return await behavior(request, context)
        finally:
            otel_context.detach(token)

    return within


def _within_stream(parent: Any, behavior: Any) -> Any:
    async def within(request: Any, context: Any) -> Any:
        token = otel_context.attach(parent)
        try:
            async for response in behavior(request, context):
                yield response
        finally:
            otel_context.detach(token)

    return within


def _forwarded(details: Any) -> Any:
    """The call's details with the current trace context added when it will not be recorded (None:
    the library records this call). Outside any trace, a new one is started here: its sampling decided
    first (tracing.new_root), so an unsampled one is only passed on."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        if not _traced(details):
            return None
        _trace_id, root = tracing.new_root(_method(details))
        if root is None:
            return None
        span_context = trace.get_current_span(root).get_span_context()
    elif span_context.trace_flags.sampled:
        return None
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    metadata["traceparent"] = (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{int(span_context.trace_flags):02x}"
    )
    if span_context.trace_state:
        metadata["tracestate"] = span_context.trace_state.to_header()
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


class _UnaryUnaryFastPath(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, library: Any) -> None:
        self._library = library

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        forwarded = _forwarded(details)
        if forwarded is not None:
            return await continuation(forwarded, request)
        return await self._library.intercept_unary_unary(continuation, details, request)


class _UnaryStreamFastPath(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, library: Any) -> None:
        self._library = library

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        forwarded = _forwarded(details)
        if forwarded is not None:
            return await continuation(forwarded, request)
        return await self._library.intercept_unary_stream(continuation, details, request)


class _StreamUnaryFastPath(grpc.aio.StreamUnaryClientInterceptor):
    def __init__(self, library: Any) -> None:
        self._library = library

    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        forwarded = _forwarded(details)
        if forwarded is not None:
            return await continuation(forwarded, requests)
        return await self._library.intercept_stream_unary(continuation, details, requests)


class _StreamStreamFastPath(grpc.aio.StreamStreamClientInterceptor):
    def __init__(self, library: Any) -> None:
        self._library = library

    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        forwarded = _forwarded(details)
        if forwarded is not None:
            return await continuation(forwarded, requests)
        return await self._library.intercept_stream_stream(continuation, details, requests)


_FAST_PATHS: tuple[tuple[type, type], ...] = (
    (grpc.aio.UnaryUnaryClientInterceptor, _UnaryUnaryFastPath),
    (grpc.aio.UnaryStreamClientInterceptor, _UnaryStreamFastPath),
    (grpc.aio.StreamUnaryClientInterceptor, _StreamUnaryFastPath),
    (grpc.aio.StreamStreamClientInterceptor, _StreamStreamFastPath),
)


def _with_fast_path(interceptor: Any) -> Any:
    return next(fast(interceptor) for kind, fast in _FAST_PATHS if isinstance(interceptor, kind))


def client_interceptors() -> list[Any]:
    """The grpc.aio client interceptors that open a CLIENT span per call and send `traceparent`
    (inside a trace its root chose not to record, they only send it on: see the fast path above).

    The library's, except for client-streaming calls: its stream-unary interceptor awaits the call's
    status before returning the call, and a request stream written with `call.write()` (the gateway's
    uploads) cannot start until the interceptors have returned, so the call would hang until its
    deadline. That one is ours: it ends the span from a done callback.
    """
    if _STATE.provider is None or _STATE.tracer is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    library = aio_client_interceptors(tracer_provider=_STATE.provider, filter_=_traced)
    chosen = [i for i in library if not isinstance(i, grpc.aio.StreamUnaryClientInterceptor)]
    return [_with_fast_path(i) for i in [*chosen, _StreamUnaryTracing(_STATE.tracer)]]


class _StreamUnaryTracing(grpc.aio.StreamUnaryClientInterceptor):
    """A CLIENT span around a client-streaming call, ended when the call ends (see client_interceptors)."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    async def intercept_stream_unary(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
        if not _traced(details):
            return await continuation(details, request_iterator)
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        service, _, name = method.lstrip("/").rpartition("/")
        span = self._tracer.start_span(
            method,
            kind=SpanKind.CLIENT,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
        )
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        propagate.inject(metadata, context=trace.set_span_in_context(span))
        try:
            call = await continuation(
                grpc.aio.ClientCallDetails(
                    details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
                ),
                request_iterator,
            )
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, repr(exc)[:200]))
            span.end()
            raise

        async def end() -> None:
            code = await call.code()
            span.set_attribute("rpc.grpc.status_code", code.value[0])
            if code != grpc.StatusCode.OK:
                span.set_status(Status(StatusCode.ERROR, code.name))
            span.end()

        call.add_done_callback(lambda _: _hold(asyncio.ensure_future(end())))
        return call


_ending: set[asyncio.Future[None]] = set()


def _hold(future: asyncio.Future[None]) -> None:
    """Keep a span-ending task until it ends (the loop keeps only weak references to tasks)."""
    _ending.add(future)
    future.add_done_callback(_ending.discard)
