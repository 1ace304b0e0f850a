"""Telemetry of one process: its settings, its metrics endpoint and tracer, and the RPC interceptors.

Every process (each service through `run_service`, the gateway through its app) starts Telemetry
first and stops it last, and puts `server_interceptors()` / `client_interceptors()` in front of the
runtime's own interceptors. Telemetry interceptors are separate from the runtime's (which
authenticate, map errors and log): they observe whatever status an RPC ended with, whoever set it
(a handler, the error mapping, readiness, a cancellation), time the whole call as its caller sees
it, and can be left out entirely when turned off. The order is one list in each place: tracing
outermost (its span is current for everything inside), then metrics, then the runtime's.

Settings: services.runtime.config.TelemetrySettings (every process; its own /metrics port among them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import grpc
from prometheus_client import REGISTRY, CollectorRegistry

from services.runtime import metrics, tracing, tracing_grpc
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

    def server_interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        """Telemetry's server interceptors, to go before the runtime's own (none when all is off)."""
        return [*tracing_grpc.server_interceptors(), *([ServerMetrics()] if self.settings.metrics else [])]


def client_interceptors() -> list[Any]:
    """Telemetry's client interceptors for a channel, before the runtime's (none when all is off)."""
    return [*tracing_grpc.client_interceptors(), *(client_metrics() if metrics.SWITCH.on else [])]


def add_channelz(server: grpc.aio.Server) -> list[str]:
    """gRPC channelz on `server`; returns its service name, for reflection."""
    from grpc_channelz.v1 import channelz, channelz_pb2

    channelz.add_channelz_servicer(server)
    return [channelz_pb2.DESCRIPTOR.services_by_name["Channelz"].full_name]


def _method(details: Any) -> str:
    method = details.method
    return method.decode() if isinstance(method, bytes) else method


def _status(context: grpc.aio.ServicerContext, exc: BaseException | None) -> grpc.StatusCode:
    """The status an RPC ended with, as its caller gets it."""
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    return grpc.StatusCode.OK if exc is None else grpc.StatusCode.UNKNOWN


class ServerMetrics(grpc.aio.ServerInterceptor):
    """grpc_server_handled_total and grpc_server_handling_seconds for every RPC but health checks."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = _method(details)
        if handler is None or method.startswith("/grpc.health.v1."):
            return handler
        codecs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(_timed_unary(method, handler.unary_unary), **codecs)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(_timed_unary(method, handler.stream_unary), **codecs)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(_timed_stream(method, handler.unary_stream), **codecs)
        return grpc.stream_stream_rpc_method_handler(_timed_stream(method, handler.stream_stream), **codecs)


def _timed_unary(method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
    async def timed(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        failure: BaseException | None = None
        try:
            return await behavior(request, context)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            metrics.SERVER_RPCS.observe(method, _status(context, failure), time.perf_counter() - started)

    return timed


def _timed_stream(method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
    async def timed(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        failure: BaseException | None = None
        try:
            async for response in behavior(request, context):
                yield response
        except BaseException as exc:
            failure = exc
            raise
        finally:
            metrics.SERVER_RPCS.observe(method, _status(context, failure), time.perf_counter() - started)

    return timed


class _UnaryUnaryMetrics(grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return await _finished(await_code=True, method=_method(details), call=continuation(details, request))


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
    """grpc_client_handled_total and grpc_client_handling_seconds for every call a channel makes.

    One interceptor per kind of call: grpc.aio files an interceptor under the first kind it
    implements only, so one object implementing all four would see unary-unary calls alone. A
    unary-unary answer is awaited here (the caller awaits it anyway). Any call with a stream is
    observed when it ends, from a done callback: the caller reads a response stream while it flows,
    and a request stream written with `call.write()` (the gateway's uploads) cannot start until the
    interceptors have returned, so awaiting its status here would wait forever.
    """
    return [_UnaryUnaryMetrics(), _StreamUnaryMetrics(), _UnaryStreamMetrics(), _StreamStreamMetrics()]


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
