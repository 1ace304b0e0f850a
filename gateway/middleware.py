"""What every answer passes through: the edge (request id, security headers, metrics), CORS, compression.

- Compression (zstd, br, gzip — whatever the client accepts) for JSON, HTML, JS and CSS, by
  starlette-compress, of answers of SHUTTER_GATEWAY_COMPRESS_MIN_BYTES (1,400) or more: a smaller one fits
  in one packet on a 1,500-byte MTU either way, so compressing it costs CPU (a photo's view: about 7% of
  the gateway's, in `make profile --call http`) and saves the client no round trip. Photo bytes (image/*)
  are already compressed and pass through untouched, and so do Server-Sent Events: a compressor's state
  (about 2 MiB for zstd) held for each open stream would be most of a watcher's memory, to save bytes on
  small, rare events.
- CSP: scripts, styles and API calls from this origin only; images also from `blob:`, since the
  client fetches photos with its bearer token and shows them through object URLs.
- CORS is off unless SHUTTER_GATEWAY_CORS_ORIGINS (gateway/settings.py) lists the origins (or `*`) of clients served
  elsewhere. Tokens travel in the Authorization header, never in cookies, so no credentials mode.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Iterable

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette_compress import CompressMiddleware, remove_compress_type

from gateway.backends import REQUEST_ID_HEADER
from gateway.settings import GatewaySettings
from gateway.telemetry import HttpMetrics

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)

CORS_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CORS_REQUEST_HEADERS = ("Authorization", "Content-Type", "X-Request-Id", "Grpc-Timeout", "If-None-Match")
CORS_EXPOSED_HEADERS = (
    "ETag",
    "Retry-After",
    "X-Request-Id",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
)


_REQUEST_ID_HEADER = REQUEST_ID_HEADER.encode()
REQUEST_ID_PATTERN = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
# Request ids need to be unique, not secret (a client may send its own): a PRNG seeded from the OS makes one
# in a fraction of the time `secrets` takes (a getrandom call per request, ~2% of the gateway's CPU). uvicorn
# spawns its workers, so each seeds its own; a forked child reseeds too, so no two processes share ids.
_new_ids = random.Random()
os.register_at_fork(after_in_child=_new_ids.seed)


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's `X-Request-Id` if it is a plain token (it travels on as gRPC metadata and into
    logs), else a new one."""
    given = next((value for name, value in headers if name == _REQUEST_ID_HEADER), b"")
    if REQUEST_ID_PATTERN.fullmatch(given):
        return given.decode("ascii")
    return f"{_new_ids.getrandbits(128):032x}"


class Edge:
    """The layer every HTTP request enters by and every answer leaves by: it gives the request its id
    (echoed in the answer), adds the security headers an answer does not set itself, and records the
    request's metrics and access-log line (gateway.telemetry.HttpMetrics).

    One layer rather than three: each layer's call and wrapped `send` is paid on every request.
    """

    def __init__(self, app: ASGIApp, telemetry: HttpMetrics) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        identity = request_id(scope["headers"])
        scope.setdefault("state", {})["request_id"] = identity
        status = 500  # if the app fails before answering, the server answers 500

        async def send_answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in SECURITY_HEADERS if header[0] not in present)
                headers.append((_REQUEST_ID_HEADER, identity.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_answer)
        finally:
            self.telemetry.record(scope, status, time.perf_counter() - started)


def cors_origins(settings: GatewaySettings) -> list[str]:
    return list(settings.cors_origins)


def wrap(app: ASGIApp, settings: GatewaySettings, telemetry: HttpMetrics) -> ASGIApp:
    """`app` inside the layers every answer passes, outermost first: the edge, CORS (answering
    preflights before anything else), compression."""
    remove_compress_type("text/event-stream")  # the library's own registry (see above)
    wrapped: ASGIApp = CompressMiddleware(app, minimum_size=settings.compress_min_bytes)
    origins = cors_origins(settings)
    if origins:
        wrapped = CORSMiddleware(
            wrapped,
            allow_origins=origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            max_age=600,
        )
    return Edge(wrapped, telemetry)
