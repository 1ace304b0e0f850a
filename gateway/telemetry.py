"""The gateway's telemetry: HTTP metrics, the access log and the request's root span, named by route template.

Every request is counted and timed by the route it matched — the contract's template
(`/v1/photos/{photo_id}`) or the web client's route, never the raw path, which would make one series
per photo — with its method and status. With tracing on, OpenTelemetry's ASGI middleware opens the
trace (or continues a client's `traceparent`); its span is renamed to the route once matched, and the
runtime's channels carry it on to the services.

The access log (`HttpAccessLog`) is the gateway's counterpart of the services' (SHUTTER_RPC_LOG_EVERY,
services.runtime.interceptors): one line per N requests, each saying `sample_of: N`, and every failure
(status ≥ 400, `sample_of: 0`). It is written here, not by uvicorn: uvicorn's access logger built a log
record for every request before a filter could drop it, about 5% of the gateway's CPU.

With several uvicorn workers (SHUTTER_GATEWAY_WORKERS > 1) each worker is its own process: they
write their metrics to a shared directory (prometheus-client's multiprocess mode) and the parent
process serves the sum on the gateway's metrics port.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable

from opentelemetry import trace
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from services.runtime import metrics, tracing

UNMATCHED = "unmatched"

access_log = logging.getLogger("shutter.http")

_REQUESTS = metrics.Labelled(
    Counter(
        "shutter_http_requests",
        "HTTP requests the gateway answered, by route template, method and status.",
        ["route", "method", "status"],
    )
)
_SECONDS = metrics.Labelled(
    Histogram(
        "shutter_http_request_seconds",
        "Time from a request's arrival at the gateway to the end of its answer, by route template and method.",
        ["route", "method"],
        buckets=metrics.LATENCY_BUCKETS,
    )
)


def name_route(scope: Scope, template: str) -> None:
    """Record which route a request matched: the label of its metrics and the name of its span."""
    scope["state"]["route"] = template
    if tracing.enabled():
        trace.get_current_span().update_name(f"{scope['method']} {template}")


class HttpAccessLog:
    """One line per `every` requests (marked `sample_of`), failures always; nothing is built for the rest."""

    def __init__(self, every: int = 1) -> None:
        if every < 1:
            raise ValueError("the access log keeps at least one request in every `every`")
        self._every = every
        self._seen = 0

    def record(self, scope: Scope, route: str, status: int, seconds: float) -> None:
        self._seen += 1
        if self._seen % self._every == 0:
            sample_of = self._every
        elif status >= 400:
            sample_of = 0
        else:
            return
        if not access_log.isEnabledFor(logging.INFO):
            return
        client = scope.get("client")
        access_log.info(
            "http",
            extra={
                "method": scope["method"],
                "path": scope["path"],
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "client": f"{client[0]}:{client[1]}" if client else "",
                "request_id": scope["state"].get("request_id"),
                "sample_of": sample_of,
            },
        )


class HttpMetrics:
    """Counts and times every HTTP request by route, method and status, and writes the access log; called
    once per request by the gateway's edge layer (gateway.middleware.Edge), which sees every answer."""

    def __init__(self, routes: Iterable[BaseRoute], access: HttpAccessLog | None = None) -> None:
        # Starlette's own routes (health, OpenAPI, the web client) by endpoint; the gateway's RPC routes
        # name themselves (name_route).
        self._paths = {getattr(route, "endpoint", None): getattr(route, "path", UNMATCHED) for route in routes}
        self._access = access or HttpAccessLog()

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope["state"].get("route") or self._paths.get(scope.get("endpoint"), UNMATCHED)
        if metrics.SWITCH.on:
            method = scope["method"]
            _REQUESTS.child(route, method, str(status)).inc()
            _SECONDS.child(route, method).observe(seconds)
        self._access.record(scope, route, status, seconds)


def traced(app: ASGIApp) -> ASGIApp:
    """`app` inside OpenTelemetry's ASGI middleware when tracing is on (unchanged when off); requests
    whose trace will not be recorded go around it (UnrecordedFastPath)."""
    if not tracing.enabled():
        return app
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    middleware = OpenTelemetryMiddleware(
        app,
        excluded_urls=",".join(UNTRACED_PATHS),
        # Named by method until the route is known (name_route): the raw path would name a span per photo.
        default_span_details=lambda scope: (scope.get("method", "HTTP"), {}),
        exclude_spans=["receive", "send"],
        tracer_provider=tracing._STATE.provider,
    )
    return UnrecordedFastPath(middleware, app)


UNTRACED_PATHS = ("/healthz", "/assets/")


class UnrecordedFastPath:
    """Around OpenTelemetry's ASGI middleware: a request that will not be recorded — its client's
    `traceparent` says so, or it starts a trace whose sampling, decided here first, says no (nearly
    all at a low ratio) — skips the middleware, which would build a span for it and record nothing.
    Its trace context is made current as it is, so log lines carry the trace id and the calls it
    makes pass the decision on. Anything else (sampled, malformed, not HTTP) goes through the middleware.
    """

    def __init__(self, middleware: ASGIApp, app: ASGIApp) -> None:
        self._middleware = middleware
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parent = self._unrecorded(scope)
        if parent is None:
            await self._middleware(scope, receive, send)
            return
        token = tracing.entered(parent)
        try:
            await self._app(scope, receive, send)
        finally:
            tracing.left(token)

    @staticmethod
    def _unrecorded(scope: Scope) -> str | None:
        """The traceparent of a request that will not be recorded; None for the middleware's."""
        if scope["type"] != "http" or scope["path"].startswith(UNTRACED_PATHS):
            return None
        incoming = next((value for key, value in scope["headers"] if key == b"traceparent"), None)
        if incoming is None:
            _trace_id, unrecorded = tracing.new_root(scope["method"])
            return unrecorded
        traceparent = incoming.decode("latin-1")
        return traceparent if tracing.unsampled(traceparent) else None


def worker_registry(workers: int) -> CollectorRegistry:
    """The registry the gateway's metrics port serves: this process's, or with several workers the
    sum of theirs (called in the parent before the workers start, which inherit the directory)."""
    if workers <= 1:
        return REGISTRY
    directory = tempfile.mkdtemp(prefix="shutter-gateway-metrics-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return registry
