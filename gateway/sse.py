"""Server-Sent Events: any annotated server-streaming RPC whose response is not media, as `text/event-stream`.

Each response message is one event: `data:` the message as the same JSON the unary routes answer, and
`id:` its `position` field when it has a non-zero one. Resuming is the contracts' convention, not
knowledge of any service: a stream whose response has `position` takes the position to resume after in
its request's `after_position` (checked when the routes are read), and the gateway fills that field from
`Last-Event-ID`, the header EventSource sends when it reconnects (a query parameter sets it too).

The service accepts a stream by sending its headers (services.runtime.live.relay does); until then a
refusal (a bad or expired token, someone else's stream, too many streams: 401, 403, 429) is an ordinary
HTTP error. After that the status is already 200, so an error ending the stream (the token expired while
watching: UNAUTHENTICATED) is one last `event: error` whose data is the google.rpc.Status JSON. A comment
line every `heartbeat` seconds keeps proxies from closing a quiet stream and finds clients that left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable

import grpc
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.errors import invalid_argument, status_from_rpc_error
from gateway.routes import Match, TemplateError
from gateway.transcoding import build_request, query_items, to_json

log = logging.getLogger("shutter.gateway")

POSITION_FIELD = "position"
RESUME_FIELD = "after_position"
LAST_EVENT_ID = "last-event-id"
# How long a browser waits before reconnecting a stream that broke (EventSource's `retry:`), in ms.
RECONNECT_MS = 2000
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def check_resumable(method_name: str, request: Descriptor, response: Descriptor) -> None:
    """A stream whose events have positions must take one to resume after (else Last-Event-ID is lost)."""
    position = response.fields_by_name.get(POSITION_FIELD)
    if position is None:
        return
    resume = request.fields_by_name.get(RESUME_FIELD)
    if resume is None or resume.type != position.type or position.type not in _INTEGER_TYPES:
        raise TemplateError(f"{method_name}: events with an integer `{POSITION_FIELD}` need `{RESUME_FIELD}` like it")


_INTEGER_TYPES = (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_INT32)


async def events(
    request: Request,
    match: Match,
    call_factory: Callable[..., grpc.aio.UnaryStreamCall],
    metadata: tuple[tuple[str, str], ...],
    heartbeat_seconds: float,
) -> Response:
    route = match.route
    grpc_request = build_request(route, match.bindings, query_items(request.scope.get("query_string", b"")), None)
    last_event_id = request.headers.get(LAST_EVENT_ID, "").strip()
    if last_event_id and RESUME_FIELD in route.method.input_type.fields_by_name:
        if not last_event_id.isascii() or not last_event_id.isdigit() or len(last_event_id) > 19:
            raise invalid_argument("Last-Event-ID", "must be an event id this stream sent")
        setattr(grpc_request, RESUME_FIELD, int(last_event_id))
    # No deadline: the stream lasts while the client reads it, and the service ends it when the token expires.
    call = call_factory(grpc_request, metadata=metadata, timeout=None)
    try:
        await call.initial_metadata()  # accepted, or refused (then the status follows at once)
        if call.done():
            await call.read()  # raises the refusal as AioRpcError: an HTTP error, not a stream
    except BaseException:
        call.cancel()
        raise
    return StreamingResponse(
        _stream(call, route.grpc_path, route.service, heartbeat_seconds, route),
        media_type="text/event-stream",
        headers=HEADERS,
    )


def event_text(data: object, *, event_id: int = 0, event: str = "") -> bytes:
    lines = [f"event: {event}"] if event else []
    if event_id:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()


async def _stream(
    call: grpc.aio.UnaryStreamCall, method: str, service: str, heartbeat: float, route: object
) -> AsyncIterator[bytes]:
    yield f"retry: {RECONNECT_MS}\n\n".encode()
    reading: asyncio.Future[object] | None = None
    try:
        while True:
            reading = reading or asyncio.ensure_future(call.read())
            done, _ = await asyncio.wait({reading}, timeout=heartbeat)
            if not done:
                yield b": heartbeat\n\n"
                continue
            message, reading = reading.result(), None
            if message is grpc.aio.EOF:
                return
            position = getattr(message, POSITION_FIELD, 0)
            yield event_text(to_json(message, route), event_id=position if isinstance(position, int) else 0)  # type: ignore[arg-type]
    except grpc.aio.AioRpcError as exc:
        status = status_from_rpc_error(exc, service)
        log.info("event stream ended", extra={"method": method, "status": exc.code().name})
        yield event_text(json_format.MessageToDict(status), event="error")
    finally:
        if reading is not None:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await reading
        call.cancel()
