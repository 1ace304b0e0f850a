"""Downloads: a server-streaming RPC of `oneof {Info info; bytes chunk}` as a plain HTTP body.

The first message (the info) becomes the headers — Content-Type, Content-Length, a strong ETag
(the content's SHA-256) and `Cache-Control: immutable`, since a photo's bytes never change —
and the chunks are streamed to the client as they arrive. `If-None-Match` answers 304 without
sending any byte. An info that carries a `url` (a presigned object-store URL the client asked for
with `accept_url=true`) becomes a 307 to it: the bytes flow from the store, not through us.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

import grpc
from google.protobuf.message import Message
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.errors import GatewayError
from gateway.routes import Match, media_fields
from gateway.transcoding import build_request, query_items

log = logging.getLogger("shutter.gateway")

# Authorised content: browsers may keep it for a year, shared caches may not keep it at all.
CACHE_CONTROL = "private, max-age=31536000, immutable"


def _info_value(info: Message, name: str) -> object | None:
    return getattr(info, name) if name in info.DESCRIPTOR.fields_by_name else None


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: weak comparison against a list of tags, or '*'."""
    if not if_none_match:
        return False
    candidates = [tag.strip() for tag in if_none_match.split(",")]
    return "*" in candidates or any(tag.removeprefix("W/") == etag for tag in candidates)


async def download(
    request: Request,
    match: Match,
    call_factory: Callable[..., grpc.aio.UnaryStreamCall],
    metadata: tuple[tuple[str, str], ...],
    timeout_seconds: float,
) -> Response:
    route = match.route
    fields = media_fields(route.method.output_type)
    assert fields is not None, "routes of kind DOWNLOAD have media fields"
    info_field, data_field = fields
    grpc_request = build_request(route, match.bindings, query_items(request.scope.get("query_string", b"")), None)
    call = call_factory(grpc_request, metadata=metadata, timeout=timeout_seconds)
    first = await call.read()
    if first is grpc.aio.EOF or first.WhichOneof(info_field.containing_oneof.name) != info_field.name:
        call.cancel()
        raise GatewayError(grpc.StatusCode.INTERNAL, f"{route.method.name} did not start with {info_field.name}")
    info = getattr(first, info_field.name)

    headers: dict[str, str] = {}
    sha256 = _info_value(info, "sha256")
    if sha256:
        headers["ETag"] = f'"{sha256}"'
        headers["Cache-Control"] = CACHE_CONTROL
        if etag_matches(request.headers.get("if-none-match"), headers["ETag"]):
            call.cancel()
            return Response(status_code=304, headers=headers)
    url = _info_value(info, "url")
    if url:
        call.cancel()
        return _redirect(str(url), _info_value(info, "url_expires_at"))
    size = _info_value(info, "byte_size")
    if isinstance(size, int) and size >= 0:
        headers["Content-Length"] = str(size)
    media_type = str(_info_value(info, "content_type") or "application/octet-stream")
    return StreamingResponse(_chunks(call, data_field.name, route.grpc_path), media_type=media_type, headers=headers)


def _redirect(url: str, expires_at: object) -> Response:
    """307 to a signed URL; the browser may reuse the redirect only while the URL has a minute left."""
    seconds = getattr(expires_at, "seconds", 0) - int(time.time()) - 60
    return Response(status_code=307, headers={"Location": url, "Cache-Control": f"private, max-age={max(seconds, 0)}"})


async def _chunks(call: grpc.aio.UnaryStreamCall, data_field: str, method: str) -> AsyncIterator[bytes]:
    """The bytes as they come; an error after the headers cuts the body short of Content-Length."""
    sent = 0
    try:
        while (message := await call.read()) is not grpc.aio.EOF:
            if message.HasField(data_field):
                chunk = getattr(message, data_field)
                yield chunk
                sent += len(chunk)
    except grpc.aio.AioRpcError as exc:
        log.warning("download broke off", extra={"method": method, "status": exc.code().name})
        raise
    except (asyncio.CancelledError, GeneratorExit):
        # The client went away (closed the connection): normal for a browser or a player; not an error.
        # Cancelled mid-read, or closed while the response waited to send (the generator is then closed).
        log.info("download cancelled by the client", extra={"method": method, "status": "CANCELLED", "sent": sent})
        raise
    finally:
        call.cancel()
