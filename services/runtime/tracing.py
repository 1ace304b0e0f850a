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
import re
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar, Token
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


def new_root(name: str) -> tuple[int, str | None]:
    """A new trace's id and, decided before any span is made, whether it is sampled.

    Unsampled (nearly every root at a low ratio): (its id, the traceparent of a trace that records
    nothing, as the SDK would send it) — made current with `entered`, log lines carry its trace id and
    calls made in it pass it on, with none of OpenTelemetry's span or context machinery. Sampled: (its
    id, None); the id is handed to the SDK for the next root span started in the current context, so the
    sampler, deciding again, agrees.
    """
    ids = random.getrandbits(192)  # trace id (128 bits) and span id (64)
    trace_id, span_id = ids >> 64 or 1, ids & _TRACE_ID_LIMIT or 1
    bound = _STATE.root_bound
    if bound is not None:  # TraceIdRatioBased's rule, without the sampler's calls and result per request
        sampled = trace_id & _TRACE_ID_LIMIT < bound
    else:  # a sampler made elsewhere (tests); a trace state it would add is not passed on
        sampled = _STATE.provider.sampler.should_sample(_EMPTY_CONTEXT, trace_id, name).decision.is_sampled()
    if sampled:
        _DECIDED_TRACE_ID.set(trace_id)
        return trace_id, None
    # Flags 02: not sampled, its id random (W3C level 2), as the SDK flags the ids its generator draws.
    return trace_id, f"00-{trace_id:032x}-{span_id:016x}-02"


_EMPTY_CONTEXT = otel_context.Context()
_TRACE_ID_LIMIT = (1 << 64) - 1  # TraceIdRatioBased compares the id's low 64 bits with its bound

# The traceparent of the request being handled here when it is one not recorded (its caller's, unchanged,
# or a new unsampled root's): what log lines read their ids from and what calls made here pass on (W3C:
# "pass the traceparent on"). One context variable instead of OpenTelemetry's span and context objects,
# which such a request, nearly every request at a low sample ratio, would build and never record into.
_UNRECORDED: ContextVar[str | None] = ContextVar("shutter_unrecorded_traceparent", default=None)


def entered(traceparent: str) -> Token[str | None]:
    """Make an unrecorded request's `traceparent` (checked by `unsampled`, or from new_root) current;
    undo with `left`."""
    return _UNRECORDED.set(traceparent)


def left(token: Token[str | None]) -> None:
    _UNRECORDED.reset(token)


def passed_on_traceparent() -> str | None:
    """The traceparent calls made here pass on, when the current request is one not recorded (see above)."""
    return _UNRECORDED.get()


def unsampled(traceparent: str) -> bool:
    """Whether a W3C traceparent is well formed (version 00, lower-case hex, ids not all zero) and says
    its trace is not recorded (flags' sampled bit clear)."""
    return _UNSAMPLED_TRACEPARENT.fullmatch(traceparent) is not None


_UNSAMPLED_TRACEPARENT = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f][02468ace]")


def shutdown() -> None:
    """Send what is buffered and stop; last thing a process does, after its servers and components."""
    if _STATE.provider is not None:
        _STATE.provider.shutdown()
    _STATE.provider = None
    _STATE.tracer = None
    _STATE.root_bound = None


def current_context() -> Any:
    """The trace context current here (to continue it elsewhere: `within`): an unrecorded request's
    traceparent, or OpenTelemetry's context; None when tracing is off."""
    if not enabled():
        return None
    return _UNRECORDED.get() or otel_context.get_current()


def within(context: Any) -> AbstractContextManager[None]:
    """Make `context` (from `current_context`) current for the block; nothing when it is None."""
    return _made_current(context) if context is not None else nullcontext()


@contextmanager
def _made_current(context: Any) -> Iterator[None]:
    """An unrecorded traceparent goes in our variable (see _UNRECORDED), anything else is OpenTelemetry's."""
    unrecorded = isinstance(context, str)
    token = _UNRECORDED.set(context) if unrecorded else otel_context.attach(context)
    try:
        yield
    finally:
        if unrecorded:
            _UNRECORDED.reset(token)
        else:
            otel_context.detach(token)


def outbox_context() -> str | None:
    """The current trace context as stored with an outbox row (JSON of the W3C headers), or None."""
    if _STATE.tracer is None:
        return None
    unrecorded = _UNRECORDED.get()
    if unrecorded is not None:
        return json.dumps({"traceparent": unrecorded}, separators=(",", ":"))
    if not trace.get_current_span().get_span_context().is_valid:
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
    try:
        carrier = json.loads(stored)
    except ValueError:
        carrier = None
    if not isinstance(carrier, dict):
        return nullcontext(None)
    traceparent = carrier.get("traceparent")
    if isinstance(traceparent, str) and unsampled(traceparent):
        return nullcontext({"traceparent": traceparent})  # no span to make: consumers get it as the request had it
    return _publishing(_STATE.tracer, subject, carrier)


@contextmanager
def _publishing(tracer: trace.Tracer, subject: str, carrier: dict[str, Any]) -> Iterator[dict[str, str]]:
    attributes = {"messaging.system": "nats", "messaging.destination.name": subject}
    with tracer.start_as_current_span(
        f"publish {subject}", context=propagate.extract(carrier), kind=SpanKind.PRODUCER, attributes=attributes
    ):
        headers: dict[str, str] = {}
        propagate.inject(headers)
        yield headers


def consuming(consumer: str, subject: str, headers: Mapping[str, str] | None) -> AbstractContextManager[Any]:
    """Around one delivery to a consumer's handler: a CONSUMER span, child of the publish (if traced)."""
    if _STATE.tracer is None or not headers or "traceparent" not in headers:
        return nullcontext()
    if unsampled(headers["traceparent"]):  # not recorded: only its ids, for the handler's log lines
        return _made_current(headers["traceparent"])
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
    unrecorded = _UNRECORDED.get()
    if unrecorded is not None:
        return unrecorded[3:35], unrecorded[36:52]
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
