"""Uploads: an HTTP body streamed into a client-streaming RPC, chunk by chunk.

Any client stream of `oneof {SomeMetadata metadata; bytes chunk}` (UploadPhoto) takes either
`multipart/form-data` (metadata form fields first, then one file part) or a raw body with the
metadata in query parameters. The first message carries the metadata, the next ones the bytes;
the gateway holds at most one chunk, and stops at the size limit with 413 (and cancels the RPC,
so the service stores nothing).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from gateway.errors import PAYLOAD_TOO_LARGE, GatewayError, invalid_argument
from gateway.routes import Match, media_fields
from gateway.settings import GatewaySettings
from gateway.transcoding import (
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY,
    apply_idempotency_key,
    assign,
    group_query,
    message_class,
    query_items,
)
from services.runtime.config import Settings

# The form part carrying the bytes; any part with a filename is taken as the file too.
FILE_PART = "file"
MAX_FORM_FIELD_BYTES = 64 * 1024
# Metadata fields before the file: enough for 30 tags and the rest, with room to spare.
MAX_FORM_FIELDS = 64
# Boundaries and part headers around the file in a form; a declared length beyond
# limit + this cannot fit under the limit.
FORM_OVERHEAD_BYTES = 256 * 1024


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int
    chunk_bytes: int
    timeout_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings, gateway: GatewaySettings) -> UploadLimits:
        return cls(
            max_bytes=settings.max_upload_bytes,  # the photo service's limit too: declared once, for both
            chunk_bytes=gateway.upload_chunk_bytes,
            timeout_seconds=gateway.upload_timeout_seconds,
        )


def too_large(limits: UploadLimits) -> GatewayError:
    return GatewayError(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        f"the upload is larger than {limits.max_bytes} bytes",
        http=PAYLOAD_TOO_LARGE,
    )


class _Sender:
    """Writes the metadata message once, then the bytes in chunks of at most `chunk_bytes`."""

    def __init__(
        self,
        call: grpc.aio.StreamUnaryCall,
        request_class: type[Message],
        header_field: FieldDescriptor,
        data_field: FieldDescriptor,
        header: Message,
        limits: UploadLimits,
        idempotency_header: str | None,
    ) -> None:
        self._call = call
        self._request_class = request_class
        self._header_field = header_field
        self._data_field = data_field
        self._header = header
        self._limits = limits
        self._idempotency_header = idempotency_header
        self._buffer = bytearray()
        self.started = False
        self.total = 0

    async def _start(self) -> None:
        if not self.started:
            self.started = True
            # Once every form field is in, so a differing idempotency_key field is caught.
            where = f"{self._header_field.name}.{IDEMPOTENCY_KEY}"
            apply_idempotency_key(self._header, self._idempotency_header, where)
            await self._call.write(self._request_class(**{self._header_field.name: self._header}))

    async def data(self, data: bytes) -> None:
        self.total += len(data)
        if self.total > self._limits.max_bytes:
            raise too_large(self._limits)
        await self._start()
        self._buffer.extend(data)
        while len(self._buffer) >= self._limits.chunk_bytes:
            await self._flush(self._limits.chunk_bytes)

    async def _flush(self, size: int) -> None:
        chunk = bytes(self._buffer[:size])
        del self._buffer[:size]
        await self._call.write(self._request_class(**{self._data_field.name: chunk}))

    async def finish(self) -> None:
        await self._start()
        if self._buffer:
            await self._flush(len(self._buffer))
        await self._call.done_writing()


class _Form:
    """python-multipart's streaming parser, turned into a list of events per body chunk."""

    def __init__(self, boundary: bytes, file_field: str) -> None:
        self.events: list[tuple[str, str, bytes]] = []
        self.file_field = file_field
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._name = ""
        self._is_file = False
        self._value = bytearray()
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": lambda data, start, end: self._header_name.extend(data[start:end]),
                "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            },
        )

    def _part_begin(self) -> None:
        self._headers = {}
        self._value = bytearray()

    def _header_end(self) -> None:
        self._headers[self._header_name.decode("latin-1").lower()] = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", b""))
        # Not UTF-8: kept as surrogates, so the name matches no field and is refused, escaped.
        self._name = options.get(b"name", b"").decode("utf-8", "surrogateescape")
        self._is_file = b"filename" in options or self._name in (FILE_PART, self.file_field)
        if self._is_file:
            self.events.append(("file", self._name, b""))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            self.events.append(("data", self._name, bytes(data[start:end])))
            return
        self._value.extend(data[start:end])
        if len(self._value) > MAX_FORM_FIELD_BYTES:
            raise invalid_argument(self._name, f"form field is longer than {MAX_FORM_FIELD_BYTES} bytes")

    def _part_end(self) -> None:
        if not self._is_file:
            self.events.append(("field", self._name, bytes(self._value)))

    def drain(self) -> list[tuple[str, str, bytes]]:
        events, self.events = self.events, []
        return events


def _header_key(key: str, header_field: FieldDescriptor) -> str:
    """`title` and `metadata.title` both name the metadata's title."""
    for prefix in (header_field.name + ".", header_field.json_name + "."):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


async def _stream_form(
    body: AsyncIterator[bytes], form: _Form, header: Message, header_field: FieldDescriptor, sender: _Sender
) -> None:
    file_parts = 0
    field_bytes = 0
    fields: dict[str, list[str]] = {}  # held until the file part, so a field given twice is seen as such
    async for body_chunk in body:
        try:
            form.parser.write(body_chunk)
        except FormParserError as exc:
            raise invalid_argument("body", "is not well-formed multipart/form-data") from exc
        for kind, name, value in form.drain():
            if kind == "field":
                if file_parts:
                    raise invalid_argument(name, "form fields must come before the file part")
                # Fields are held in memory until the file part: bound them, however the body is framed.
                field_bytes += len(value)
                if sum(map(len, fields.values())) >= MAX_FORM_FIELDS or field_bytes > FORM_OVERHEAD_BYTES:
                    raise invalid_argument(
                        "body", f"at most {MAX_FORM_FIELDS} form fields of {FORM_OVERHEAD_BYTES} bytes in all"
                    )
                # Not UTF-8: kept as surrogates (not U+FFFD), so the field refuses the value by name.
                fields.setdefault(_header_key(name, header_field), []).append(value.decode("utf-8", "surrogateescape"))
            elif kind == "file":
                file_parts += 1
                if file_parts > 1:
                    raise invalid_argument(name, "only one file part is allowed")
                for key, values in fields.items():
                    assign(header, key, values, f"{header_field.name}.")
            else:
                await sender.data(value)
    try:
        form.parser.finalize()
    except FormParserError as exc:
        raise invalid_argument("body", "is not well-formed multipart/form-data") from exc
    if not file_parts:
        raise invalid_argument(FILE_PART, "the form has no file part")


async def _discard_rest(body: AsyncIterator[bytes], budget: int) -> None:
    """Read (and drop) what the client is still sending, so it can read our error answer."""
    try:
        async for body_chunk in body:
            budget -= len(body_chunk)
            if budget < 0:
                return
    except ClientDisconnect:
        return


async def upload(
    request: Request,
    match: Match,
    call_factory: Callable[..., grpc.aio.StreamUnaryCall],
    metadata: tuple[tuple[str, str], ...],
    limits: UploadLimits,
    timeout: float,
) -> tuple[Message, Sequence[tuple[str, str | bytes]]]:
    """Stream the body into the RPC; the service's response and trailing metadata, or an error (GatewayError /
    AioRpcError)."""
    route = match.route
    fields = media_fields(route.method.input_type)
    assert fields is not None, "routes of kind UPLOAD have media fields"
    header_field, data_field = fields
    header = message_class(header_field.message_type)()
    raw_query = query_items(request.scope.get("query_string", b""))
    query = [(_header_key(key, header_field), value) for key, value in raw_query]
    for key, values in group_query(header_field.message_type, query).items():
        assign(header, key, values, f"{header_field.name}.")
    for key, value in match.bindings.items():
        assign(header, _header_key(key, header_field), [value], f"{header_field.name}.")

    body = aiter(request.stream())
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    is_form = content_type == b"multipart/form-data"
    declared = request.headers.get("content-length", "")
    slack = FORM_OVERHEAD_BYTES if is_form else 0
    if declared.isascii() and declared.isdigit() and int(declared) > limits.max_bytes + slack:
        await _discard_rest(body, limits.max_bytes)
        raise too_large(limits)
    if is_form and not options.get(b"boundary"):
        raise invalid_argument("content-type", "multipart/form-data needs a boundary")

    call = call_factory(metadata=metadata, timeout=timeout)
    sender = _Sender(
        call,
        message_class(route.method.input_type),
        header_field,
        data_field,
        header,
        limits,
        request.headers.get(IDEMPOTENCY_HEADER),
    )
    try:
        if is_form:
            await _stream_form(body, _Form(options[b"boundary"], data_field.name), header, header_field, sender)
        else:
            async for body_chunk in body:
                await sender.data(body_chunk)
        await sender.finish()
    except GatewayError:
        call.cancel()
        await _discard_rest(body, limits.max_bytes)
        raise
    except ClientDisconnect as exc:
        call.cancel()
        raise GatewayError(grpc.StatusCode.CANCELLED, "the client went away during the upload") from exc
    except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
        # The service ended the RPC early (e.g. UNAUTHENTICATED): its status, awaited below, is the answer.
        await _discard_rest(body, limits.max_bytes)
    reply = await call
    return reply, tuple(await call.trailing_metadata() or ())
