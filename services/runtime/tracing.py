"""Traces (OpenTelemetry): one trace per client request across the mesh, continued through events.

Off unless SHUTTER_TRACING=1. Off means no tracer provider (the API's tracer is a no-op), no
interceptor on any server or channel, no trace context written to the outbox and no headers on
events: what is left is a None check here and there. On, spans go in batches over OTLP/gRPC to
SHUTTER_OTLP_ENDPOINT (Jaeger, or an OpenTelemetry collector). SHUTTER_TRACE_SAMPLE_RATIO of the
traces that start here are kept; a request that arrives with a trace context keeps its caller's
decision (parent-based), so a trace is kept whole or not at all.

gRPC calls are traced by opentelemetry-instrumentation-grpc's grpc.aio interceptors, put first on
every server and channel the runtime makes, so the span is current while the runtime's own
interceptor and the handler run (their log lines and outgoing calls belong to it).

Events continue the trace of the request that caused them:
- the outbox row keeps the writing request's W3C trace context (`traceparent`), written in the same
  transaction as the entity and its event;
- the relay publishes each event inside a PRODUCER span, a child of that context, and the NATS
  message carries the publish span's `traceparent` in its headers;
- a consumer handles each delivery inside a CONSUMER span, a child of the publish span.
Children rather than links: a consumer handles one message at a time and that work is part of what
the request caused, so an upload's trace shows its relay, fan-out and indexing (and a redelivery shows
as a second attempt under the same publish); and with parent-based sampling the chain is kept or
dropped together, where a linked trace would be sampled again, on its own, per event.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

log = logging.getLogger("shutter.tracing")

# Probes and tooling poll these; a trace per health check would bury the requests.
UNTRACED_SERVICES = ("grpc.health.v1.", "grpc.reflection.", "grpc.channelz.")


@dataclass(frozen=True)
class TracingSettings:
    enabled: bool = False
    otlp_endpoint: str = "http://127.0.0.1:4317"
    sample_ratio: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.sample_ratio <= 1.0:
            raise SystemExit(f"SHUTTER_TRACE_SAMPLE_RATIO must be between 0 and 1, got {self.sample_ratio}")


class _State:
    provider: Any = None  # opentelemetry.sdk.trace.TracerProvider once configured
    tracer: trace.Tracer | None = None


_STATE = _State()


def enabled() -> bool:
    return _STATE.tracer is not None


def configure(service: str, settings: TracingSettings) -> None:
    """Install the process's tracer provider (when tracing is on); call once, before any channel is made."""
    if not settings.enabled or _STATE.provider is not None:
        return
    # Imported only when on: a process that does not trace never loads the SDK or the exporter.
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.namespace": "shutter"}),
        sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
    )
    # An http:// endpoint means plaintext (in-cluster collector, local Jaeger); https:// means TLS.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
    trace.set_tracer_provider(provider)
    _STATE.provider = provider
    _STATE.tracer = provider.get_tracer("shutter.runtime")
    log.info("tracing", extra={"otlp_endpoint": settings.otlp_endpoint, "sample_ratio": settings.sample_ratio})


def shutdown() -> None:
    """Send what is buffered and stop; last thing a process does, after its servers and components."""
    if _STATE.provider is not None:
        _STATE.provider.shutdown()
    _STATE.provider = None
    _STATE.tracer = None


def _traced(details: Any) -> bool:
    method = details.method.decode() if isinstance(details.method, bytes) else details.method
    return not method.lstrip("/").startswith(UNTRACED_SERVICES)


def server_interceptors() -> list[Any]:
    """The grpc.aio server interceptors that open a SERVER span per RPC (none when tracing is off)."""
    if _STATE.provider is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [_UnsampledServerFastPath(aio_server_interceptor(tracer_provider=_STATE.provider, filter_=_traced))]


# At a low sample ratio nearly every request is one its caller chose not to record. The library would
# still build a span for it (attributes, peer parsing, a proxy around the servicer context) and record
# nothing; a third of the CPU of a small RPC at 1% sampling went there. Such requests take a fast path
# instead: the caller's context is made current as it came (so log lines carry its trace id and calls
# made from here forward the decision, W3C's "pass the traceparent on unchanged"), and nothing else.


def _incoming_traceparent(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "traceparent":
            return value if isinstance(value, str) else None
    return None


def _unsampled(traceparent: str) -> bool:
    """Whether a W3C traceparent says its trace is not recorded (flags' sampled bit clear)."""
    flags = traceparent[-2:]
    return len(traceparent) == 55 and flags in _UNSAMPLED_FLAGS


_UNSAMPLED_FLAGS = frozenset(f"{flag:02x}" for flag in range(256) if not flag & 1)


class _UnsampledServerFastPath(grpc.aio.ServerInterceptor):
    """The library's server interceptor, except for requests their caller did not sample."""

    def __init__(self, library: grpc.aio.ServerInterceptor) -> None:
        self._library = library

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        incoming = _incoming_traceparent(details.invocation_metadata)
        if incoming is None or not _unsampled(incoming):
            return await self._library.intercept_service(continuation, details)
        handler = await continuation(details)
        if handler is None:
            return None
        parent = propagate.extract({"traceparent": incoming})
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
    """The call's details with the current, unrecorded trace context added (None: not that case)."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid or span_context.trace_flags.sampled:
        return None
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    propagate.inject(metadata)
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


def outbox_context() -> str | None:
    """The current trace context as stored with an outbox row (JSON of the W3C headers), or None."""
    if _STATE.tracer is None or not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return json.dumps(carrier, separators=(",", ":"))


def publishing(subject: str, stored: str | None) -> AbstractContextManager[dict[str, str] | None]:
    """Around the relay's publish of one event: the headers to send with it (None when untraced).

    Only events written inside a trace continue it; the relay never starts a trace of its own.
    """
    if _STATE.tracer is None or not stored:
        return nullcontext(None)
    return _publishing(_STATE.tracer, subject, stored)


@contextmanager
def _publishing(tracer: trace.Tracer, subject: str, stored: str) -> Iterator[dict[str, str]]:
    try:
        parent = propagate.extract(json.loads(stored))
    except ValueError:
        parent = None
    attributes = {"messaging.system": "nats", "messaging.destination.name": subject}
    with tracer.start_as_current_span(
        f"publish {subject}", context=parent, kind=SpanKind.PRODUCER, attributes=attributes
    ):
        headers: dict[str, str] = {}
        propagate.inject(headers)
        yield headers


def consuming(consumer: str, subject: str, headers: Mapping[str, str] | None) -> AbstractContextManager[Any]:
    """Around one delivery to a consumer's handler: a CONSUMER span, child of the publish (if traced)."""
    if _STATE.tracer is None or not headers or "traceparent" not in headers:
        return nullcontext()
    return _STATE.tracer.start_as_current_span(
        f"{consumer} process",
        context=propagate.extract(headers),
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "nats",
            "messaging.destination.name": subject,
            "messaging.consumer.group.name": consumer,
        },
    )


def mark_error(description: str) -> None:
    """Mark the current span failed (a handler error that was dealt with, so never raised through it)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_status(Status(StatusCode.ERROR, description))


def current_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) in hex of the current span, for log lines; None outside any trace."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
