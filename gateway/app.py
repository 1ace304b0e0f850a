"""The HTTP gateway's ASGI app: every annotated RPC, /openapi.json, /healthz and the web client at /.

Requests are matched against the routes read from the contracts (gateway.routes), transcoded
(gateway.transcoding, or streamed for media: gateway.uploads / gateway.downloads), sent over the
runtime's channels (gateway.backends), and failures answered as google.rpc.Status (gateway.errors).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as StarletteRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import downloads, middleware, openapi, sse, uploads, web
from gateway.backends import Backends, call_metadata, call_timeout
from gateway.errors import (
    PAYLOAD_TOO_LARGE,
    GatewayError,
    gateway_error_response,
    ratelimit_headers,
    rpc_error_response,
)
from gateway.health import healthz
from gateway.routes import Kind, Router, routes_for
from gateway.settings import GatewaySettings
from gateway.telemetry import UNMATCHED, HttpAccessLog, HttpMetrics, name_route, traced, worker_registry
from gateway.transcoding import build_request, query_items, to_json
from services.runtime.config import Settings
from services.runtime.limits import parse_networks
from services.runtime.logs import configure_logging
from services.runtime.settings import warn_undeclared
from services.runtime.telemetry import Telemetry
from services.runtime.topology import CONTRACTS

log = logging.getLogger("shutter.gateway")


@dataclass(frozen=True)
class Limits:
    max_json_bytes: int
    timeout_seconds: float
    download_timeout_seconds: float
    heartbeat_seconds: float
    max_timeout_seconds: float  # the most a client's Grpc-Timeout may ask for
    upload: uploads.UploadLimits

    @classmethod
    def from_settings(cls, settings: Settings, gateway: GatewaySettings) -> Limits:
        return cls(
            max_json_bytes=gateway.max_json_bytes,
            timeout_seconds=settings.default_deadline_seconds,
            download_timeout_seconds=gateway.download_timeout_seconds,
            heartbeat_seconds=gateway.events_heartbeat_seconds,
            max_timeout_seconds=gateway.max_timeout_seconds,
            upload=uploads.UploadLimits.from_settings(settings, gateway),
        )


async def read_body(request: Request, limit: int) -> bytes:
    """The whole (JSON) body, refused with 413 past `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise GatewayError(
            grpc.StatusCode.RESOURCE_EXHAUSTED, f"the body is larger than {limit} bytes", http=PAYLOAD_TOO_LARGE
        )
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise GatewayError(
                grpc.StatusCode.RESOURCE_EXHAUSTED, f"the body is larger than {limit} bytes", http=PAYLOAD_TOO_LARGE
            )
    return bytes(body)


class Gateway:
    """Dispatches any request that is not /healthz or /openapi.json to its RPC."""

    def __init__(self, settings: Settings, gateway: GatewaySettings) -> None:
        self.settings = settings
        self.backends = Backends(settings)
        self.router = Router(routes_for(CONTRACTS))
        self.limits = Limits.from_settings(settings, gateway)
        self.trusted_proxies = parse_networks(gateway.trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI: every /v1/ request (ApiOrSite), and whatever else Starlette's routes do not take."""
        response = await self.dispatch(Request(scope, receive))
        try:
            await response(scope, receive, send)
        except ClientDisconnect:  # a streamed answer the client stopped reading (ASGI spec 2.4 servers)
            log.info("the client went away", extra={"request_id": scope["state"].get("request_id")})

    async def dispatch(self, request: Request) -> Response:
        # Still percent-encoded; raw bytes that are not UTF-8 stay as surrogates for the field to refuse.
        path = request.scope.get("raw_path", b"").decode("utf-8", "surrogateescape") or request.url.path
        match = self.router.match(request.method, path)
        kind = match.route.kind if match else None
        try:
            name_route(request.scope, match.route.template.text if match else UNMATCHED)
            if match is None:
                allowed = self.router.allowed_methods(path)
                if allowed:
                    raise GatewayError(
                        grpc.StatusCode.UNIMPLEMENTED,
                        f"{request.method} is not allowed on {path}",
                        http=405,
                        headers={"Allow": ", ".join(allowed)},
                    )
                raise GatewayError(grpc.StatusCode.NOT_FOUND, f"no route for {request.method} {path}")
            call = self.backends.callable(match.route)
            metadata = call_metadata(request, self.trusted_proxies)
            maximum = self.limits.max_timeout_seconds
            if kind is Kind.UPLOAD:
                timeout = call_timeout(request, self.limits.upload.timeout_seconds, maximum)
                reply, trailing = await uploads.upload(request, match, call, metadata, self.limits.upload, timeout)
                return JSONResponse(to_json(reply, match.route), headers=ratelimit_headers(trailing))
            if kind is Kind.DOWNLOAD:
                timeout = call_timeout(request, self.limits.download_timeout_seconds, maximum)
                return await downloads.download(request, match, call, metadata, timeout)
            if kind is Kind.EVENTS:
                return await sse.events(request, match, call, metadata, self.limits.heartbeat_seconds)
            timeout = call_timeout(request, self.limits.timeout_seconds, maximum)
            body = await read_body(request, self.limits.max_json_bytes) if match.route.body else b""
            query = query_items(request.scope.get("query_string", b""))
            grpc_request = build_request(match.route, match.bindings, query, body, request.headers)
            rpc = await call(grpc_request, metadata=metadata, timeout=timeout)
            reply = await rpc
            return JSONResponse(to_json(reply, match.route), headers=ratelimit_headers(await rpc.trailing_metadata()))
        except GatewayError as error:
            return gateway_error_response(error)
        except grpc.aio.AioRpcError as error:
            assert match is not None  # only calls raise it
            # An upload's RESOURCE_EXHAUSTED is 413 (too large), unless it is a rate limit or quota (RateLimit figures).
            oversized = (
                kind is Kind.UPLOAD
                and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                and not ratelimit_headers(error.trailing_metadata())  # type: ignore[arg-type]
            )
            return rpc_error_response(error, match.route.service, PAYLOAD_TOO_LARGE if oversized else None)
        except ClientDisconnect:
            return gateway_error_response(GatewayError(grpc.StatusCode.CANCELLED, "the client went away"))
        except Exception as exc:
            request_id = request.state.request_id
            log.error("unhandled error", exc_info=exc, extra={"request_id": request_id, "path": path})
            error = GatewayError(grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})")
            return gateway_error_response(error)


class ApiOrSite:
    """Sends the contracts' routes (all under /v1/) straight to the gateway, and the rest (health, OpenAPI,
    the web client) to Starlette's router: an API call skips the router's matching and its error and
    exception layers, which the gateway does for itself (every failure of a call is answered in JSON)."""

    def __init__(self, gateway: Gateway, site: Starlette) -> None:
        self.gateway = gateway
        self.site = site

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(API_PREFIX):
            await self.gateway(scope, receive, send)
        else:
            await self.site(scope, receive, send)


API_PREFIX = "/v1/"


def create_app(settings: Settings, own: GatewaySettings | None = None) -> ASGIApp:
    """The app, on the gateway's settings (read from `settings`' environment unless given)."""
    own = own if own is not None else GatewaySettings.from_env(settings.environ)
    gateway = Gateway(settings, own)
    if any(not route.template.text.startswith(API_PREFIX) for route in gateway.router.routes):
        raise ValueError(f"every route in the contracts is under {API_PREFIX}")
    document = openapi.document(gateway.router.routes)

    async def openapi_json(request: Request) -> JSONResponse:
        return JSONResponse(document)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await gateway.backends.close()

    site = Starlette(
        routes=[
            StarletteRoute("/healthz", healthz, methods=["GET"]),
            StarletteRoute("/openapi.json", openapi_json, methods=["GET"]),
            *web.routes(own),
            StarletteRoute("/{path:path}", gateway),
        ],
        lifespan=lifespan,
    )
    # Starlette's `{path:path}` is `.*`, which stops at a newline: a path with an encoded one (%0A) would get
    # Starlette's own text/plain 404. Whatever no route matches is the gateway's to answer, in JSON.
    site.router.default = gateway
    site.state.backends = gateway.backends
    telemetry = HttpMetrics(site.routes, HttpAccessLog(settings.rpc_log_every))
    return middleware.wrap(ApiOrSite(gateway, site), own, telemetry)


def configure_gateway_logging(settings: Settings) -> None:
    configure_logging("gateway", settings.log_level)


def app_from_env() -> ASGIApp:
    """The factory each uvicorn worker calls (main has checked the settings)."""
    settings = Settings.from_env()
    configure_gateway_logging(settings)
    Telemetry("gateway", settings).start(serve_metrics=False)  # the process running uvicorn serves them
    return traced(create_app(settings))


def main() -> None:
    settings = Settings.from_env()  # every setting of the gateway checked before it starts
    own = GatewaySettings.from_env(settings.environ)
    configure_gateway_logging(settings)
    warn_undeclared(os.environ, log)
    telemetry = Telemetry("gateway", settings, worker_registry(own.workers))
    telemetry.start(trace=False)  # each worker installs its own tracer (app_from_env)
    try:
        _serve(settings, own.workers)
    finally:
        telemetry.stop()


def _serve(settings: Settings, workers: int) -> None:
    uvicorn.run(
        "gateway.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.gateway_port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,  # the gateway writes its own, sampled (gateway.telemetry.HttpAccessLog)
        # X-Forwarded-For is read by the gateway itself, only from SHUTTER_GATEWAY_TRUSTED_PROXIES (uvicorn's
        # own reading would believe any local client's).
        proxy_headers=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )
