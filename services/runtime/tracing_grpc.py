"""Tracing of gRPC calls, when tracing is on (services.runtime.tracing): what the runtime's own server and
client interceptors (services.runtime.interceptors) do about it, as their first step.

Calls that are recorded go through opentelemetry-instrumentation-grpc's grpc.aio interceptors, except
client-streaming calls, which get ours: the library's awaits the call's status before returning the call,
and a request stream written with `call.write()` (the gateway's uploads) cannot start until the
interceptors have returned, so the call would hang until its deadline.

At a low sample ratio nearly every request is one that will not be recorded: its caller chose not to
record it, or it starts a trace (no incoming context) that the sampler drops. The library would still
build a span for it (attributes, peer parsing, a proxy around the servicer context) and record nothing,
and each grpc.aio interceptor layer costs every call. So the decision comes first, in the runtime's
interceptors, and such requests get only their trace context: the caller's (or the new unsampled
trace's, tracing.new_root) is made current as it is, so log lines carry its trace id, and the calls made
from here pass it on unchanged (W3C's "pass the traceparent on"), read from the context rather than
formatted again per call.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from services.runtime import tracing
from services.runtime.tracing import _STATE, unsampled

# Probes and tooling poll these; a trace per health check would bury the requests.
UNTRACED_SERVICES = ("grpc.health.v1.", "grpc.reflection.", "grpc.channelz.")

# `arriving` / `outgoing`: the library records this call.
RECORD = object()


def _method(details: Any) -> str:
    return details.method.decode() if isinstance(details.method, bytes) else details.method


def _traced(details: Any) -> bool:
    return _traced_method(_method(details))


def _traced_method(method: str) -> bool:
    return not method.lstrip("/").startswith(UNTRACED_SERVICES)


def _incoming_traceparent(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "traceparent":
            return value if isinstance(value, str) else None
    return None


def arriving(details: Any) -> Any:
    """What tracing does with a call arriving with `details`: None (tracing off, or a method never
    traced), RECORD (the library records it: its caller sampled it, or it starts a trace sampled here),
    or the traceparent of a trace that records nothing, to make current while it is handled
    (tracing.entered)."""
    if _STATE.provider is None:
        return None
    incoming = _incoming_traceparent(details.invocation_metadata)
    if incoming is None:
        if not _traced(details):
            return None
        # Decided in the task the handler runs in (grpc.aio runs a call's interceptors and its handler in
        # one task), so a sampled root's id reaches the library's span.
        _trace_id, unrecorded = tracing.new_root(details.method)
        return RECORD if unrecorded is None else unrecorded
    if unsampled(incoming):
        return incoming
    return RECORD


def outgoing(details: Any) -> Any:
    """What an outgoing call with `details` carries (see `outgoing_for`)."""
    if _STATE.provider is None:
        return ()
    return outgoing_for(_method(details))


def outgoing_for(method: str) -> Any:
    """What an outgoing call of `method` carries: () (tracing off, or an untraced method), RECORD (the
    library makes its CLIENT span and sends its context), or the metadata that passes a trace not recorded
    on. Outside any trace a new one starts here, its sampling decided first (tracing.new_root)."""
    if _STATE.provider is None:
        return ()
    passed_on = tracing.passed_on_traceparent()
    if passed_on is not None:
        return (("traceparent", passed_on),)
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        if span_context.trace_flags.sampled:
            return RECORD
        # A span not recorded that OpenTelemetry made current (its API used directly): pass it on as W3C says.
        traceparent = f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{int(span_context.trace_flags):02x}"
        if span_context.trace_state:
            return (("traceparent", traceparent), ("tracestate", span_context.trace_state.to_header()))
        return (("traceparent", traceparent),)
    if not _traced_method(method):
        return ()
    _trace_id, unrecorded = tracing.new_root(method)
    return RECORD if unrecorded is None else (("traceparent", unrecorded),)


def server_library() -> grpc.aio.ServerInterceptor:
    """The instrumentation's server interceptor: it records the calls `arriving` says RECORD for."""
    return _library()["server"]  # type: ignore[no-any-return]


def client_library(kind: str) -> Any:
    """The interceptor that records outgoing calls of `kind` ("unary_unary", "stream_unary", …)."""
    return _library()[kind]


_LIBRARY: dict[str, Any] = {}


def _library() -> dict[str, Any]:
    """The recording interceptors for this process's tracer provider, made once."""
    if _LIBRARY.get("provider") is not _STATE.provider:
        from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor

        client = aio_client_interceptors(tracer_provider=_STATE.provider, filter_=_traced)
        _LIBRARY.clear()
        _LIBRARY.update(
            provider=_STATE.provider,
            server=aio_server_interceptor(tracer_provider=_STATE.provider, filter_=_traced),
            unary_unary=next(i for i in client if isinstance(i, grpc.aio.UnaryUnaryClientInterceptor)),
            unary_stream=next(i for i in client if isinstance(i, grpc.aio.UnaryStreamClientInterceptor)),
            stream_stream=next(i for i in client if isinstance(i, grpc.aio.StreamStreamClientInterceptor)),
            stream_unary=_StreamUnaryTracing(_STATE.tracer),  # type: ignore[arg-type]
        )
    return _LIBRARY


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
