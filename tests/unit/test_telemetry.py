"""The runtime's telemetry pieces in-process: settings, the metrics interceptors on a real grpc.aio server
and channel over loopback, the /metrics endpoint, labels, log lines inside a trace, and "off"."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest

from bench.telemetry import histogram_quantile
from services.runtime import metrics, tracing, tracing_grpc
from services.runtime.auth import TokenAuthority
from services.runtime.config import TelemetrySettings
from services.runtime.cql import operation
from services.runtime.errors import InvalidArgument
from services.runtime.interceptors import ClientInterceptor, Lifecycle, ServerInterceptor, runtime_client_interceptors
from services.runtime.logs import JsonFormatter
from services.runtime.telemetry import client_metrics
from services.runtime.topology import METRICS_PORTS
from tests.support.mesh import free_port

SERVICE = "test.telemetry.v1.Probe"


def test_settings_default_to_metrics_on_tracing_and_channelz_off() -> None:
    found = TelemetrySettings.from_env({})
    assert (found.metrics, found.channelz, found.tracing) == (True, False, False)
    assert found.metrics_ports == METRICS_PORTS
    assert found.trace_sample_ratio == 1.0


def test_each_process_reads_its_own_metrics_port_and_the_shared_switches() -> None:
    env = {"SHUTTER_LIKE_METRICS_PORT": "9999", "SHUTTER_TRACING": "1", "SHUTTER_TRACE_SAMPLE_RATIO": "0.01"}
    found = TelemetrySettings.from_env(env)
    assert (found.metrics_ports["like"], found.metrics_ports["view"]) == (9999, METRICS_PORTS["view"])
    assert found.tracing and found.trace_sample_ratio == 0.01


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SHUTTER_METRICS": "maybe"}, "SHUTTER_METRICS"),
        ({"SHUTTER_TRACING": "2"}, "SHUTTER_TRACING"),
        ({"SHUTTER_TRACE_SAMPLE_RATIO": "1.5"}, "SHUTTER_TRACE_SAMPLE_RATIO"),
        ({"SHUTTER_TRACE_SAMPLE_RATIO": "often"}, "SHUTTER_TRACE_SAMPLE_RATIO"),
        ({"SHUTTER_VIEW_METRICS_PORT": "http"}, "SHUTTER_VIEW_METRICS_PORT"),
    ],
)
def test_a_bad_setting_stops_the_start_naming_it(env: dict[str, str], named: str) -> None:
    with pytest.raises(SystemExit, match=named):
        TelemetrySettings.from_env(env)


def test_tracing_off_adds_nothing_anywhere() -> None:
    assert not tracing.enabled()
    call = grpc.aio.ClientCallDetails(
        f"/{SERVICE}/Say", 5, (("traceparent", f"00-{'a' * 32}-{'b' * 16}-01"),), None, None
    )
    call.invocation_metadata = call.metadata  # as the server side names it
    assert tracing_grpc.arriving(call) is None and tracing_grpc.outgoing(call) == ()
    assert tracing.outbox_context() is None
    with tracing.publishing("shutter.events.photo.posted", '{"traceparent": "00-ab-cd-01"}') as headers:
        assert headers is None
    with tracing.consuming("feed-fanout", "shutter.events.photo.posted", {"traceparent": "x"}):
        assert tracing.current_ids() is None


def test_store_operations_are_named_by_method_or_statement() -> None:
    class SqliteThings:
        def like(self) -> Any:
            return lambda conn: conn

    assert metrics.call_site(SqliteThings().like()) == "test_store_operations_are_named_by_method_or_statement"
    assert metrics.call_site(SqliteThings.like) == "test_store_operations_are_named_by_method_or_statement"
    assert metrics.call_site(len) == "len"
    assert operation("SELECT a, b FROM likes_by_photo WHERE photo_id = ?") == "SELECT likes_by_photo"
    assert operation("INSERT INTO outbox (a) VALUES (?)") == "INSERT outbox"
    assert operation("UPDATE users USING TTL 5 SET a = ? WHERE k = ?") == "UPDATE users"
    assert operation("DELETE FROM outbox WHERE shard = ?") == "DELETE outbox"


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    # 10 observations: 5 under 0.1 s, 4 more under 0.5 s, 1 over 1 s.
    buckets = [(0.1, 5.0), (0.5, 9.0), (1.0, 9.0), (float("inf"), 10.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.7, buckets) == pytest.approx(0.1 + 0.4 * (7 - 5) / 4)
    assert histogram_quantile(0.99, buckets) == 1.0  # in +Inf: the last finite bound
    assert histogram_quantile(0.5, [(0.1, 0.0), (float("inf"), 0.0)]) is None


# -- the interceptors on a real server and channel -------------------------------------------------


async def _say(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    if request == b"bad":
        raise InvalidArgument("text", "must not be bad")
    if request == b"gone":
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
    return request


async def _count(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    for index in range(int(request)):
        yield str(index).encode()


async def _upload(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> bytes:
    return b"".join([chunk async for chunk in requests])


HANDLERS = {
    "Say": grpc.unary_unary_rpc_method_handler(_say),
    "Count": grpc.unary_stream_rpc_method_handler(_count),
    "Upload": grpc.stream_unary_rpc_method_handler(_upload),
}


async def write_upload(channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...]) -> bytes:
    """A client stream written with call.write(), as the gateway's uploads are."""
    call = channel.stream_unary(f"/{SERVICE}/Upload")(metadata=metadata, timeout=5)
    for chunk in (b"a", b"b", b"c"):
        await call.write(chunk)
    await call.done_writing()
    return await call


@pytest.fixture
async def probe() -> AsyncIterator[tuple[grpc.aio.Channel, Lifecycle]]:
    """A grpc.aio server with the runtime's interceptor (which observes the RPC metrics) behind a channel
    with the runtime's client interceptors (unary calls observed by its own, streams by telemetry's)."""
    readiness = Lifecycle()
    readiness.ready = True
    server = grpc.aio.server(interceptors=[ServerInterceptor(TokenAuthority("k" * 40, 60), readiness)])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, HANDLERS)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{port}", interceptors=[*client_metrics(), ClientInterceptor(default_deadline=5)]
    )
    token = TokenAuthority("k" * 40, 60).issue_service_token("probe", ttl_seconds=60)
    channel_metadata = (("authorization", f"Bearer {token}"),)
    try:
        yield _Authed(channel, channel_metadata), readiness  # type: ignore[misc]
    finally:
        await channel.close()
        await server.stop(None)


class _Authed:
    """The probe channel's calls, each with a valid service token."""

    def __init__(self, channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...]) -> None:
        self._channel = channel
        self._metadata = metadata

    async def say(self, text: bytes) -> bytes:
        return await self._channel.unary_unary(f"/{SERVICE}/Say")(text, metadata=self._metadata, timeout=5)

    async def upload(self) -> bytes:
        return await write_upload(self._channel, self._metadata)

    async def count(self, n: int) -> list[bytes]:
        return [
            r async for r in self._channel.unary_stream(f"/{SERVICE}/Count")(str(n).encode(), metadata=self._metadata)
        ]


def value(name: str, method: str, code: str | None = None) -> float:
    labels = {"grpc_service": SERVICE, "grpc_method": method}
    if code is not None:
        labels["grpc_code"] = code
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def eventually_equal(read: Any, expected: float) -> float:
    """Streamed calls are observed from a done callback, a moment after the caller's last read."""
    for _ in range(100):
        if read() == expected:
            break
        await asyncio.sleep(0.01)
    return read()


async def test_server_and_client_count_each_call_by_the_status_it_ended_with(probe: Any) -> None:
    calls, readiness = probe
    before = {
        (side, code): value(f"grpc_{side}_handled_total", "Say", code)
        for side in ("server", "client")
        for code in ("OK", "INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE")
    }
    timed = value("grpc_server_handling_seconds_count", "Say")

    assert await calls.say(b"hello") == b"hello"
    for text, code in ((b"bad", grpc.StatusCode.INVALID_ARGUMENT), (b"gone", grpc.StatusCode.NOT_FOUND)):
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await calls.say(text)
        assert failed.value.code() == code
    readiness.ready = False  # refused by the runtime's interceptor before any handler runs
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await calls.say(b"hello")
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

    for side in ("server", "client"):
        for code in ("OK", "INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE"):
            moved = value(f"grpc_{side}_handled_total", "Say", code) - before[(side, code)]
            assert moved == 1, (side, code)
    assert value("grpc_server_handling_seconds_count", "Say") - timed == 4


async def test_a_streamed_answer_is_counted_once_when_it_ends(probe: Any) -> None:
    calls, _ = probe
    before = {side: value(f"grpc_{side}_handled_total", "Count", "OK") for side in ("server", "client")}
    assert await calls.count(3) == [b"0", b"1", b"2"]
    for side in ("server", "client"):
        read = lambda s=side: value(f"grpc_{s}_handled_total", "Count", "OK")  # noqa: E731
        assert await eventually_equal(read, before[side] + 1) == before[side] + 1, side


async def test_a_written_client_stream_goes_through_and_is_counted_when_it_ends(probe: Any) -> None:
    calls, _ = probe
    before = {side: value(f"grpc_{side}_handled_total", "Upload", "OK") for side in ("server", "client")}
    assert await asyncio.wait_for(calls.upload(), 10) == b"abc"  # a status awaited too early would hang here
    for side in ("server", "client"):
        read = lambda s=side: value(f"grpc_{s}_handled_total", "Upload", "OK")  # noqa: E731
        assert await eventually_equal(read, before[side] + 1) == before[side] + 1, side


async def test_switched_off_the_interceptors_observe_nothing(probe: Any) -> None:
    calls, _ = probe
    before = value("grpc_server_handled_total", "Say", "OK")
    metrics.set_enabled(False)
    try:
        assert await calls.say(b"quiet") == b"quiet"
    finally:
        metrics.set_enabled(True)
    assert value("grpc_server_handled_total", "Say", "OK") == before


# -- the endpoint and the log lines -------------------------------------------------------------------


def test_the_endpoint_serves_the_registry_over_http_and_a_taken_port_stops_the_start() -> None:
    endpoint = metrics.MetricsEndpoint("127.0.0.1", 0)
    endpoint.start()
    try:
        reply = httpx.get(endpoint.url, timeout=5)
        assert reply.status_code == 200
        assert "grpc_server_handled_total" in reply.text or "# HELP grpc_server_handled" in reply.text
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", free_port()))
            taken.listen()
            clash = metrics.MetricsEndpoint("127.0.0.1", taken.getsockname()[1])
            with pytest.raises(SystemExit, match="cannot serve metrics"):
                clash.start()
    finally:
        endpoint.stop()


_AUTHORITY = TokenAuthority("k" * 40, 60)
SERVICE_AUTH = (("authorization", f"Bearer {_AUTHORITY.issue_service_token('probe', ttl_seconds=86_400)}"),)


def traced_server_interceptor() -> ServerInterceptor:
    """The runtime's server interceptor, ready: tracing is its first step (services.runtime.tracing_grpc)."""
    ready = Lifecycle()
    ready.ready = True
    return ServerInterceptor(_AUTHORITY, ready)


@pytest.fixture
def in_memory_tracing() -> Iterator[TracerProvider]:
    """Tracing switched on in this process only for the test; finished spans stay in memory."""
    provider = TracerProvider(id_generator=tracing.root_ids())
    provider.spans = InMemorySpanExporter()  # type: ignore[attr-defined]
    provider.add_span_processor(SimpleSpanProcessor(provider.spans))  # type: ignore[attr-defined]
    tracing._STATE.provider, tracing._STATE.tracer = provider, provider.get_tracer("test")
    try:
        yield provider
    finally:
        tracing._STATE.provider, tracing._STATE.tracer = None, None


def test_log_lines_carry_the_trace_and_span_they_were_written_in(in_memory_tracing: TracerProvider) -> None:
    formatter = JsonFormatter("like")
    record = logging.LogRecord("shutter.rpc", logging.INFO, __file__, 1, "rpc", None, None)
    assert "trace_id" not in json.loads(formatter.format(record))
    with in_memory_tracing.get_tracer("test").start_as_current_span("request") as span:
        line = json.loads(formatter.format(record))
    context = span.get_span_context()
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")


def test_an_outbox_row_keeps_the_trace_and_the_relay_continues_it(in_memory_tracing: TracerProvider) -> None:
    with in_memory_tracing.get_tracer("test").start_as_current_span("upload") as upload:
        stored = tracing.outbox_context()
    assert stored is not None
    trace_id = format(upload.get_span_context().trace_id, "032x")
    assert json.loads(stored)["traceparent"].split("-")[1] == trace_id
    with tracing.publishing("shutter.events.photo.posted", stored) as headers:
        assert headers is not None
        _version, carried_trace, publish_span, flags = headers["traceparent"].split("-")
    assert carried_trace == trace_id
    assert int(flags, 16) & 1  # sampled, as its parent was
    assert publish_span != format(upload.get_span_context().span_id, "016x")  # the publish span's own
    with tracing.consuming("feed-fanout", "shutter.events.photo.posted", headers):
        assert tracing.current_ids() is not None
        assert tracing.current_ids()[0] == trace_id  # type: ignore[index]


def test_an_unrecorded_requests_event_carries_its_trace_as_it_came_and_records_nothing(
    in_memory_tracing: TracerProvider,
) -> None:
    """An upload not sampled: its outbox row keeps its traceparent, the relay sends that on unchanged (no
    publish span), and the consumer's log lines name the same trace; nothing is recorded anywhere."""
    traceparent = f"00-{'e' * 32}-{'f' * 16}-00"
    with tracing.within(traceparent):
        assert tracing.current_context() == traceparent  # what a batch loader carries to its call
        stored = tracing.outbox_context()
    assert stored is not None
    with tracing.publishing("shutter.events.photo.posted", stored) as headers:
        assert headers == {"traceparent": traceparent}
    with tracing.consuming("feed-fanout", "shutter.events.photo.posted", headers):
        assert tracing.current_ids() == ("e" * 32, "f" * 16)
    assert tracing.current_ids() is None
    with tracing.publishing("shutter.events.photo.posted", "not json") as headers:
        assert headers is None  # the relay never starts a trace of its own
    assert in_memory_tracing.spans.get_finished_spans() == ()  # type: ignore[attr-defined]


async def test_traced_calls_of_every_kind_go_through_and_carry_the_trace(in_memory_tracing: TracerProvider) -> None:
    """The tracing client interceptors on a real channel: a written client stream must not hang."""
    seen: list[str] = []

    async def say(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        seen.append(dict(context.invocation_metadata()).get("traceparent", ""))
        return request

    server = grpc.aio.server()
    handlers = {**HANDLERS, "Say": grpc.unary_unary_rpc_method_handler(say)}
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", interceptors=runtime_client_interceptors(5))
    try:
        with in_memory_tracing.get_tracer("test").start_as_current_span("request") as parent:
            assert await channel.unary_unary(f"/{SERVICE}/Say")(b"hi", timeout=5) == b"hi"
            assert await asyncio.wait_for(write_upload(channel, ()), 10) == b"abc"
    finally:
        await channel.close()
        await server.stop(None)
    trace_id = parent.get_span_context().trace_id
    assert seen and seen[0].split("-")[1] == format(trace_id, "032x")
    exporter = in_memory_tracing.spans  # type: ignore[attr-defined]
    for _ in range(100):
        if f"/{SERVICE}/Upload" in {span.name for span in exporter.get_finished_spans()}:
            break
        await asyncio.sleep(0.01)
    clients = {span.name: span for span in exporter.get_finished_spans() if span.parent}
    assert {f"/{SERVICE}/Say", f"/{SERVICE}/Upload"} <= set(clients)
    assert all(span.context.trace_id == trace_id for span in clients.values())


async def test_a_request_its_caller_did_not_sample_passes_its_trace_on_and_records_nothing(
    in_memory_tracing: TracerProvider,
) -> None:
    """Through a traced server that calls another: unsampled, the caller's traceparent travels on
    unchanged and no span is made; sampled, both hops record spans of the caller's trace."""
    received: list[str] = []
    logged: list[str | None] = []

    async def leaf(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        received.append(dict(context.invocation_metadata()).get("traceparent", ""))
        return request

    leaf_server = grpc.aio.server(interceptors=[traced_server_interceptor()])
    leaf_server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(SERVICE, {"Say": grpc.unary_unary_rpc_method_handler(leaf)})]
    )
    leaf_port = leaf_server.add_insecure_port("127.0.0.1:0")
    await leaf_server.start()
    downstream = grpc.aio.insecure_channel(f"127.0.0.1:{leaf_port}", interceptors=runtime_client_interceptors(5))

    async def middle(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        ids = tracing.current_ids()
        logged.append(ids[0] if ids else None)
        return await downstream.unary_unary(f"/{SERVICE}/Say")(request, metadata=SERVICE_AUTH, timeout=5)

    middle_server = grpc.aio.server(interceptors=[traced_server_interceptor()])
    middle_server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(SERVICE, {"Relay": grpc.unary_unary_rpc_method_handler(middle)})]
    )
    middle_port = middle_server.add_insecure_port("127.0.0.1:0")
    await middle_server.start()
    caller = grpc.aio.insecure_channel(f"127.0.0.1:{middle_port}")
    exporter = in_memory_tracing.spans  # type: ignore[attr-defined]
    try:
        unsampled = f"00-{'a' * 32}-{'b' * 16}-00"
        await caller.unary_unary(f"/{SERVICE}/Relay")(
            b"x", metadata=(*SERVICE_AUTH, ("traceparent", unsampled)), timeout=5
        )
        assert received == [unsampled]  # passed on unchanged
        assert logged == ["a" * 32]  # the trace id is still in the middle's log lines
        assert exporter.get_finished_spans() == ()

        sampled = f"00-{'c' * 32}-{'d' * 16}-01"
        await caller.unary_unary(f"/{SERVICE}/Relay")(
            b"x", metadata=(*SERVICE_AUTH, ("traceparent", sampled)), timeout=5
        )
        assert received[1].split("-")[1] == "c" * 32 and received[1] != sampled  # a new parent: our span
        for _ in range(100):
            if len(exporter.get_finished_spans()) >= 3:
                break
            await asyncio.sleep(0.01)
        spans = exporter.get_finished_spans()
        assert {format(s.context.trace_id, "032x") for s in spans} == {"c" * 32}
        assert sorted(s.name for s in spans) == sorted(
            [f"/{SERVICE}/Relay", f"/{SERVICE}/Say", f"/{SERVICE}/Say"]  # the middle's client span, the leaf's
        )
    finally:
        await caller.close()
        await downstream.close()
        await middle_server.stop(None)
        await leaf_server.stop(None)


@pytest.mark.parametrize(
    ("traceparent", "fast"),
    [
        (f"00-{'a' * 32}-{'b' * 16}-00", True),
        (f"00-{'a' * 32}-{'b' * 16}-02", True),  # W3C level 2's random-trace-id flag, not sampled
        (f"00-{'a' * 32}-{'b' * 16}-01", False),  # sampled: the library records it
        (f"00-{'a' * 32}-{'b' * 16}-03", False),
        (f"01-{'a' * 32}-{'b' * 16}-00", False),  # versions we do not know go to the library
        (f"00-{'A' * 32}-{'b' * 16}-00", False),  # upper-case hex is invalid
        (f"00-{'0' * 32}-{'b' * 16}-00", False),  # all-zero ids are invalid
        (f"00-{'a' * 32}-{'0' * 16}-00", False),
        (f"00-{'a' * 31}-{'b' * 16}-00", False),
        ("garbage", False),
    ],
)
def test_only_well_formed_unsampled_contexts_take_the_fast_path(
    traceparent: str, fast: bool, in_memory_tracing: TracerProvider
) -> None:
    assert tracing.unsampled(traceparent) is fast
    if fast:  # made current as it came: log lines read its ids, calls pass it on unchanged
        token = tracing.entered(traceparent)
        try:
            assert tracing.current_ids() == ("a" * 32, "b" * 16)
            call = grpc.aio.ClientCallDetails(f"/{SERVICE}/Say", 5, (), None, None)
            assert tracing_grpc.outgoing(call) == (("traceparent", traceparent),)
            assert json.loads(tracing.outbox_context() or "") == {"traceparent": traceparent}
        finally:
            tracing.left(token)
        assert tracing.current_ids() is None


class _CountingProvider(TracerProvider):
    """A provider whose tracers count the spans they are asked to start, recorded or not."""

    started = 0

    def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
        tracer = super().get_tracer(*args, **kwargs)
        provider = self

        class Counting:
            def start_span(self, *a: Any, **k: Any) -> Any:
                provider.started += 1
                return tracer.start_span(*a, **k)

            def start_as_current_span(self, *a: Any, **k: Any) -> Any:
                provider.started += 1
                return tracer.start_as_current_span(*a, **k)

        return Counting()


@pytest.fixture
def half_sampled_tracing() -> Iterator[_CountingProvider]:
    """Tracing on at a 50% sample ratio (ids as the runtime makes them), spans in memory."""
    provider = _CountingProvider(sampler=ParentBased(TraceIdRatioBased(0.5)), id_generator=tracing.root_ids())
    provider.spans = InMemorySpanExporter()  # type: ignore[attr-defined]
    provider.add_span_processor(SimpleSpanProcessor(provider.spans))  # type: ignore[attr-defined]
    tracing._STATE.provider, tracing._STATE.tracer = provider, provider.get_tracer("test")
    tracing._STATE.root_bound = TraceIdRatioBased(0.5).bound  # as configure() sets it: the one-comparison rule
    try:
        yield provider
    finally:
        tracing._STATE.provider, tracing._STATE.tracer, tracing._STATE.root_bound = None, None, None


def test_the_root_decision_made_directly_agrees_with_the_sdks_sampler(in_memory_tracing: TracerProvider) -> None:
    """new_root decides with TraceIdRatioBased's rule itself; the SDK, deciding again on the same id when the
    span starts, must agree, or a kept trace would lose its root span (or a dropped one gain it)."""
    for ratio in (0.0, 0.01, 0.5, 1.0):
        sampler = ParentBased(TraceIdRatioBased(ratio))
        tracing._STATE.root_bound = TraceIdRatioBased(ratio).bound
        try:
            for _ in range(2000):
                trace_id, unsampled_context = tracing.new_root("/x/Y")
                tracing._DECIDED_TRACE_ID.set(0)
                expected = sampler.should_sample(None, trace_id, "/x/Y").decision.is_sampled()
                assert (unsampled_context is None) is expected, (ratio, trace_id)
        finally:
            tracing._STATE.root_bound = None


async def test_a_new_trace_is_sampled_before_any_span_and_an_unsampled_one_only_passes_on(
    half_sampled_tracing: _CountingProvider,
) -> None:
    """Requests arriving without a trace start one: its sampling is decided first, so the ones not kept
    never reach the instrumentation (no span built), yet their trace id is in the log lines and goes on
    to the next hop unsampled; the ones kept record under that same id, and only they."""
    provider = half_sampled_tracing
    hops: list[tuple[str | None, str]] = []

    async def leaf(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return dict(context.invocation_metadata()).get("traceparent", "").encode()

    leaf_server = grpc.aio.server(interceptors=[traced_server_interceptor()])
    leaf_server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(SERVICE, {"Say": grpc.unary_unary_rpc_method_handler(leaf)})]
    )
    leaf_port = leaf_server.add_insecure_port("127.0.0.1:0")
    await leaf_server.start()
    downstream = grpc.aio.insecure_channel(f"127.0.0.1:{leaf_port}", interceptors=runtime_client_interceptors(5))

    async def root(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        ids = tracing.current_ids()
        passed_on = await downstream.unary_unary(f"/{SERVICE}/Say")(b"", metadata=SERVICE_AUTH, timeout=5)
        hops.append((ids[0] if ids else None, passed_on.decode()))
        return b""

    root_server = grpc.aio.server(interceptors=[traced_server_interceptor()])
    root_server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(SERVICE, {"Relay": grpc.unary_unary_rpc_method_handler(root)})]
    )
    root_port = root_server.add_insecure_port("127.0.0.1:0")
    await root_server.start()
    caller = grpc.aio.insecure_channel(f"127.0.0.1:{root_port}")  # no trace context: each request is a root
    try:
        for _ in range(32):
            await caller.unary_unary(f"/{SERVICE}/Relay")(b"x", metadata=SERVICE_AUTH, timeout=5)
    finally:
        await caller.close()
        await downstream.close()
        await root_server.stop(None)
        await leaf_server.stop(None)

    bound = TraceIdRatioBased.get_bound_for_rate(0.5)
    kept = {
        trace_id for trace_id, _ in hops if trace_id and int(trace_id, 16) & TraceIdRatioBased.TRACE_ID_LIMIT < bound
    }
    assert len(hops) == 32 and all(trace_id for trace_id, _ in hops)
    assert 0 < len(kept) < 32  # both kinds of root were seen (all alike: one chance in 2^31)
    for trace_id, passed_on in hops:
        _version, carried, _span, flags = passed_on.split("-")
        assert carried == trace_id  # the next hop continues the trace the log lines name
        assert bool(int(flags, 16) & 1) is (trace_id in kept)
    spans = provider.spans.get_finished_spans()  # type: ignore[attr-defined]
    roots = [s for s in spans if s.name == f"/{SERVICE}/Relay"]
    assert {format(s.context.trace_id, "032x") for s in roots} == kept  # kept roots record under their own id
    assert len(roots) == len(kept)
    # Root server span, client span and leaf server span for each kept request; nothing for the others.
    assert provider.started == 3 * len(kept)


async def test_the_gateway_records_only_sampled_requests_and_starts_no_span_for_the_others(
    half_sampled_tracing: _CountingProvider,
) -> None:
    """The gateway is where most traces start: the requests not kept skip the ASGI middleware (no span
    built) but still run inside their trace (log lines, calls passed on); a client's unsampled context is
    kept as it came; the kept requests record under the trace id they were decided on."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from gateway.telemetry import traced

    async def whoami(request: Request) -> PlainTextResponse:
        ids = tracing.current_ids()
        return PlainTextResponse(ids[0] if ids else "")

    app = traced(Starlette(routes=[Route("/v1/whoami", whoami)]))
    provider = half_sampled_tracing
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        seen = [(await client.get("/v1/whoami")).text for _ in range(32)]
        unsampled = f"00-{'a' * 32}-{'b' * 16}-00"
        passed_on = (await client.get("/v1/whoami", headers={"traceparent": unsampled})).text

    bound = TraceIdRatioBased.get_bound_for_rate(0.5)
    kept = {t for t in seen if t and int(t, 16) & TraceIdRatioBased.TRACE_ID_LIMIT < bound}
    assert all(seen) and len(set(seen)) == 32
    assert 0 < len(kept) < 32  # both kinds of root were seen (all alike: one chance in 2^31)
    assert passed_on == "a" * 32
    recorded = {format(s.context.trace_id, "032x") for s in provider.spans.get_finished_spans()}  # type: ignore[attr-defined]
    assert recorded == kept
    assert provider.started == len(kept)


def test_the_loop_families_expose_what_the_library_families_would() -> None:
    """The runtime's lock-free RPC families (LoopCounter, LoopHistogram) against prometheus-client's own,
    fed the same observations, including values on bucket bounds: the same exposition, bar `_created`."""
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    histogram = metrics.LoopHistogram("t_seconds", "doc", ["m"], metrics.LATENCY_BUCKETS, registry=ours)
    counter = metrics.LoopCounter("t_handled", "doc", ["m", "code"], registry=ours)
    library_histogram = Histogram("t_seconds", "doc", ["m"], buckets=metrics.LATENCY_BUCKETS, registry=theirs)
    library_counter = Counter("t_handled", "doc", ["m", "code"], registry=theirs)
    observations = [0.0001, 0.0005, 0.001, 0.0049, 0.005, 0.3, 9.0, 10.0, 11.0, 0.0005]
    for index, seconds in enumerate(observations):
        method = "A" if index % 3 else "B"
        histogram.observe_into(histogram.child((method,)), seconds)
        library_histogram.labels(method).observe(seconds)
        counter.inc((method, "OK"))
        library_counter.labels(method, "OK").inc()

    def exposition(registry: CollectorRegistry) -> list[str]:
        return sorted(line for line in generate_latest(registry).decode().splitlines() if "_created" not in line)

    assert exposition(ours) == exposition(theirs)
    assert ours.get_sample_value("t_seconds_count", {"m": "A"}) == 6
