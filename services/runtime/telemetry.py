"""Telemetry of one process: its settings, its metrics endpoint and tracer, and the RPC interceptors.

Every process (each service through `run_service`, the gateway through its app) starts Telemetry
first and stops it last. Tracing and the RPC metrics of unary calls and of every served RPC live in the
runtime's own interceptors (services.runtime.interceptors, deciding about tracing first with
services.runtime.tracing_grpc), which already time every call and know its status: a grpc.aio
interceptor layer costs every call, so telemetry adds no layer of its own there. Client calls with a
stream get a metrics interceptor here, `client_interceptors()`, put before the runtime's (observed from
a done callback when the call ends).

Settings: services.runtime.config.TelemetrySettings (every process; its own /metrics port among them).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
from prometheus_client import REGISTRY, CollectorRegistry

from services.runtime import metrics, tracing
from services.runtime.config import Settings, TelemetrySettings


class Telemetry:
    """A process's /metrics endpoint and tracer: started before anything else, stopped after everything."""

    def __init__(self, process: str, settings: Settings, registry: CollectorRegistry = REGISTRY) -> None:
        self.process = process
        self.settings = TelemetrySettings.from_env(settings.environ)
        self.endpoint = metrics.MetricsEndpoint(settings.host, self.settings.metrics_ports[process], registry)

    def start(self, *, serve_metrics: bool = True, trace: bool = True) -> None:
        """Serve /metrics and install the tracer; a gateway worker only traces, its parent only serves."""
        metrics.set_enabled(self.settings.metrics)
        if self.settings.metrics and serve_metrics:
            self.endpoint.start()
        if trace:
            tracing.configure(self.process, self.settings)

    def stop(self) -> None:
        tracing.shutdown()
        self.endpoint.stop()


def client_interceptors() -> list[Any]:
    """Telemetry's client interceptors for a channel, before the runtime's (none when metrics are off)."""
    return client_metrics() if metrics.SWITCH.on else []


def add_channelz(server: grpc.aio.Server) -> list[str]:
    """gRPC channelz on `server`; returns its service name, for reflection."""
    from grpc_channelz.v1 import channelz, channelz_pb2

    channelz.add_channelz_servicer(server)
    return [channelz_pb2.DESCRIPTOR.services_by_name["Channelz"].full_name]


def _method(details: Any) -> str:
    method = details.method
    return method.decode() if isinstance(method, bytes) else method


class _StreamUnaryMetrics(grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, details, request_iterator):  # type: ignore[no-untyped-def]
        return await _finished(await_code=False, method=_method(details), call=continuation(details, request_iterator))


class _UnaryStreamMetrics(grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return await _finished(await_code=False, method=_method(details), call=continuation(details, request))


class _StreamStreamMetrics(grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, details, request_iterator):  # type: ignore[no-untyped-def]
        return await _finished(await_code=False, method=_method(details), call=continuation(details, request_iterator))


def client_metrics() -> list[Any]:
    """grpc_client_handled_total and grpc_client_handling_seconds for calls with a stream (unary-unary
    calls are observed by the runtime's ClientInterceptor, which every intercepted channel has, or by the peer
    stub itself: services.runtime.channels.PeerStub).

    One interceptor per kind of call: grpc.aio files an interceptor under the first kind it
    implements only. A call with a stream is observed when it ends, from a done callback: the caller
    reads a response stream while it flows, and a request stream written with `call.write()` (the
    gateway's uploads) cannot start until the interceptors have returned, so awaiting its status here
    would wait forever.
    """
    return [_StreamUnaryMetrics(), _UnaryStreamMetrics(), _StreamStreamMetrics()]


async def _finished(*, await_code: bool, method: str, call: Any) -> Any:
    started = time.perf_counter()
    started_call = await call
    if await_code:
        metrics.CLIENT_RPCS.observe(method, await started_call.code(), time.perf_counter() - started)
        return started_call

    async def observe() -> None:
        metrics.CLIENT_RPCS.observe(method, await started_call.code(), time.perf_counter() - started)

    started_call.add_done_callback(lambda _: _keep(asyncio.ensure_future(observe())))
    return started_call


_observing: set[asyncio.Future[None]] = set()


def _keep(future: asyncio.Future[None]) -> None:
    """Hold the observation task until it ends (the loop keeps only weak references to tasks)."""
    _observing.add(future)
    future.add_done_callback(_observing.discard)
