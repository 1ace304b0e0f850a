"""Traces (OpenTelemetry): one trace per client request across the mesh, continued through events.

Off unless SHUTTER_TRACING=1. Off means no tracer provider (the API's tracer is a no-op), no
interceptor on any server or channel, no trace context written to the outbox and no headers on
events: what is left is a None check here and there. On, spans go in batches over OTLP/gRPC to
SHUTTER_OTLP_ENDPOINT (Jaeger, or an OpenTelemetry collector). SHUTTER_TRACE_SAMPLE_RATIO of the
traces that start here are kept; a request that arrives with a trace context keeps its caller's
decision (parent-based), so a trace is kept whole or not at all.

gRPC calls are traced by opentelemetry-instrumentation-grpc's grpc.aio interceptors
(services.runtime.tracing_grpc), put first on every server and channel the runtime makes, so the span
is current while the runtime's own interceptor and the handler run (their log lines and outgoing
calls belong to it).

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

import json
import logging
import random
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from services.runtime.config import TelemetrySettings

log = logging.getLogger("shutter.tracing")


class _State:
    provider: Any = None  # opentelemetry.sdk.trace.TracerProvider once configured
    tracer: trace.Tracer | None = None
    # The root sampler's rule, as configure() installs it (a trace id below this bound is kept), so new_root
    # decides with one comparison; None: ask the provider's sampler (a provider made elsewhere, in tests).
    root_bound: int | None = None


_STATE = _State()


def enabled() -> bool:
    return _STATE.tracer is not None


def configure(service: str, settings: TelemetrySettings) -> None:
    """Install the process's tracer provider (when tracing is on); call once, before any channel is made."""
    if not settings.tracing or _STATE.provider is not None:
        return
    # Imported only when on: a process that does not trace never loads the SDK or the exporter.
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.namespace": "shutter"}),
        sampler=ParentBased(TraceIdRatioBased(settings.trace_sample_ratio)),
        id_generator=root_ids(),
    )
    # An http:// endpoint means plaintext (in-cluster collector, local Jaeger); https:// means TLS.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.collector)))
    trace.set_tracer_provider(provider)
    _STATE.provider = provider
    _STATE.root_bound = TraceIdRatioBased(settings.trace_sample_ratio).bound
    _STATE.tracer = provider.get_tracer("shutter.runtime")
    log.info("tracing", extra={"otlp_endpoint": settings.collector, "sample_ratio": settings.trace_sample_ratio})


# A root whose sampling was decided before its span started (new_root) hands its trace id to the SDK here,
# so the sampler, deciding again on the same id, agrees (ratio sampling is a function of the trace id).
_DECIDED_TRACE_ID: ContextVar[int] = ContextVar("shutter_decided_trace_id", default=0)


def root_ids() -> Any:
    """The provider's id generator: random ids, except a decided root's trace id (see new_root)."""
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class RootIds(RandomIdGenerator):
        def generate_trace_id(self) -> int:
            decided = _DECIDED_TRACE_ID.get()
            if decided:
                _DECIDED_TRACE_ID.set(0)
                return decided
            return super().generate_trace_id()

    return RootIds()


def new_root(name: str) -> tuple[int, Any | None]:
    """A new trace's id and, decided before any span is made, whether it is sampled.

    Unsampled (nearly every root at a low ratio): (its id, the context of a trace that records nothing,
    as the SDK would make it) — log lines carry its trace id and calls made in it pass the decision on,
    without the instrumentation's span machinery. Sampled: (its id, None); the id is handed to the SDK
    for the next root span started in the current context, so the sampler, deciding again, agrees.
    """
    trace_id = random.getrandbits(128) or 1
    bound = _STATE.root_bound
    if bound is not None:  # TraceIdRatioBased's rule, without the sampler's calls and result per request
        sampled, trace_state = trace_id & _TRACE_ID_LIMIT < bound, None
    else:
        result = _STATE.provider.sampler.should_sample(_EMPTY_CONTEXT, trace_id, name)
        sampled, trace_state = result.decision.is_sampled(), result.trace_state
    if sampled:
        _DECIDED_TRACE_ID.set(trace_id)
        return trace_id, None
    span_id = random.getrandbits(64) or 1
    span_context = trace.SpanContext(
        trace_id=trace_id,
        span_id=span_id,
        is_remote=False,
        trace_flags=_UNSAMPLED_RANDOM_ID,  # as the SDK flags the ids its random generator draws
        trace_state=trace_state,
    )
    context = trace.set_span_in_context(trace.NonRecordingSpan(span_context), _EMPTY_CONTEXT)
    if not trace_state:  # with a trace state to send too, calls format both (tracing_grpc.outgoing)
        context = otel_context.set_value(_PASSED_ON, f"00-{trace_id:032x}-{span_id:016x}-02", context)
    return trace_id, context


_EMPTY_CONTEXT = otel_context.Context()
_TRACE_ID_LIMIT = (1 << 64) - 1  # TraceIdRatioBased compares the id's low 64 bits with its bound
_UNSAMPLED_RANDOM_ID = trace.TraceFlags(trace.TraceFlags.RANDOM_TRACE_ID)


def unsampled_parent(traceparent: str) -> Any:
    """The caller's context from a traceparent `unsampled` accepted (its shape is checked there):
    built directly, as the W3C propagator would, without its regular expression and baggage pass."""
    span_context = trace.SpanContext(
        trace_id=int(traceparent[3:35], 16),
        span_id=int(traceparent[36:52], 16),
        is_remote=True,
        trace_flags=trace.TraceFlags(int(traceparent[53:55], 16)),
    )
    context = trace.set_span_in_context(trace.NonRecordingSpan(span_context), _EMPTY_CONTEXT)
    return otel_context.set_value(_PASSED_ON, traceparent, context)


# An unrecorded request's context carries the traceparent its calls pass on (W3C: unchanged when it came
# with one), made once as the context is, so each outgoing call reads it instead of formatting it again.
_PASSED_ON = otel_context.create_key("shutter-passed-on-traceparent")


def passed_on_traceparent() -> str | None:
    """The traceparent calls made here pass on, when the current request is one not recorded (see above)."""
    value = otel_context.get_value(_PASSED_ON)
    return value if isinstance(value, str) else None


def unsampled(traceparent: str) -> bool:
    """Whether a W3C traceparent says its trace is not recorded (flags' sampled bit clear)."""
    return (
        len(traceparent) == 55
        and traceparent[:3] == "00-"
        and traceparent[53:] in _UNSAMPLED_FLAGS
        and traceparent[35] == traceparent[52] == "-"
        and _HEX.issuperset(traceparent[3:35])
        and _HEX.issuperset(traceparent[36:52])
        and traceparent[3:35] != "0" * 32
        and traceparent[36:52] != "0" * 16
    )


_UNSAMPLED_FLAGS = frozenset(f"{flag:02x}" for flag in range(256) if not flag & 1)
_HEX = frozenset("0123456789abcdef")


def shutdown() -> None:
    """Send what is buffered and stop; last thing a process does, after its servers and components."""
    if _STATE.provider is not None:
        _STATE.provider.shutdown()
    _STATE.provider = None
    _STATE.tracer = None
    _STATE.root_bound = None


def current_context() -> Any:
    """The trace context current here (to continue it elsewhere: `within`); None when tracing is off."""
    return otel_context.get_current() if enabled() else None


def within(context: Any) -> AbstractContextManager[None]:
    """Make `context` (from `current_context`) current for the block; nothing when it is None."""
    return _attached(context) if context is not None else nullcontext()


@contextmanager
def _attached(context: Any) -> Iterator[None]:
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)


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
