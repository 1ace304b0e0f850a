"""Streams that carry messages rather than media, as newline-delimited JSON (like grpc-gateway).

A server stream answers one `{"result": …}` line per message, and `{"error": <Status>}` if it
breaks off after the first line. A client stream reads one JSON request message per line.
No current contract needs these; they keep "annotate an RPC, get a route" true for streams too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from starlette.requests import Request
from starlette.responses import StreamingResponse

from gateway.errors import invalid_argument, status_from_rpc_error
from gateway.routes import Match
from gateway.transcoding import build_request, message_class, to_json

NDJSON = "application/x-ndjson"


def server_stream(
    request: Request,
    match: Match,
    call_factory: Callable[..., grpc.aio.UnaryStreamCall],
    metadata: tuple[tuple[str, str], ...],
    body: bytes,
    timeout: float,
) -> StreamingResponse:
    grpc_request = build_request(match.route, match.bindings, request.query_params.multi_items(), body)
    call = call_factory(grpc_request, metadata=metadata, timeout=timeout)

    async def lines() -> AsyncIterator[bytes]:
        try:
            while (message := await call.read()) is not grpc.aio.EOF:
                yield json.dumps({"result": to_json(message)}).encode() + b"\n"
        except grpc.aio.AioRpcError as exc:
            status = json_format.MessageToDict(status_from_rpc_error(exc))
            yield json.dumps({"error": status}).encode() + b"\n"
        finally:
            call.cancel()

    return StreamingResponse(lines(), media_type=NDJSON)


async def client_stream(
    request: Request,
    match: Match,
    call_factory: Callable[..., grpc.aio.StreamUnaryCall],
    metadata: tuple[tuple[str, str], ...],
    timeout: float,
) -> Message:
    request_class = message_class(match.route.method.input_type)
    call = call_factory(metadata=metadata, timeout=timeout)
    pending = b""
    try:
        async for chunk in request.stream():
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if line.strip():
                    await call.write(_parse_line(request_class, line))
        if pending.strip():
            await call.write(_parse_line(request_class, pending))
        await call.done_writing()
    except Exception:
        call.cancel()
        raise
    return await call


def _parse_line(request_class: type[Message], line: bytes) -> Message:
    try:
        return json_format.Parse(line.decode("utf-8"), request_class())
    except (ValueError, json_format.ParseError) as exc:
        raise invalid_argument("body", f"a line is not a JSON {request_class.DESCRIPTOR.name}: {exc}") from exc
