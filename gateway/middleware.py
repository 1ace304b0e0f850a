"""What browsers need from every answer: compression, a strict Content-Security-Policy, and CORS.

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

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette_compress import CompressMiddleware, remove_compress_type

from gateway.settings import GatewaySettings

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


class SecurityHeadersMiddleware:
    """Adds the security headers to every answer that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in SECURITY_HEADERS if header[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def cors_origins(settings: GatewaySettings) -> list[str]:
    return list(settings.cors_origins)


def install(app: Starlette, settings: GatewaySettings) -> None:
    """Wraps the app; the last one added runs first, so CORS answers preflights before anything else."""
    remove_compress_type("text/event-stream")  # the library's own registry (see above)
    app.add_middleware(CompressMiddleware, minimum_size=settings.compress_min_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    origins = cors_origins(settings)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            max_age=600,
        )
