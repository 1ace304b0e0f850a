"""Responses as proto3 JSON, exactly as json_format.MessageToDict writes them, from a plan made per type.

MessageToDict(always_print_fields_with_no_presence=True) reflects over every field of every message
on every call: a view with its first 20 comments took ~1.6 ms of the gateway's CPU, three times the
gRPC call it transcodes (~0.2 ms here). An encoder written out once per message type from its
descriptor reads each field straight into a dict instead. It covers what the contracts' responses
hold — scalars, enums, repeated fields, nested messages, Timestamp, oneofs — and hands any type
holding something else (maps, floats, other well-known types) to json_format whole.
tests/unit/test_gateway_json_encoding.py checks it against MessageToDict on every response type.
"""

from __future__ import annotations

import base64
import datetime
import functools
import keyword
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

Encoder = Callable[[Message], dict[str, Any]]

_TIMESTAMP = "google.protobuf.Timestamp"
_INT64 = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
)
# Written as they are (bool and str are already what JSON wants).
_AS_IS = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_BOOL,
        FieldDescriptor.TYPE_STRING,
    }
)

_encoders: dict[str, Encoder] = {}


class _Unsupported(Exception):
    """A type this module leaves to json_format."""


def message_to_dict(message: Message) -> dict[str, Any]:
    """What MessageToDict(message, always_print_fields_with_no_presence=True) returns."""
    return _encoder(message.DESCRIPTOR)(message)


def compiled(descriptor: Descriptor) -> bool:
    """Whether messages of this type get a compiled encoder (else json_format does the work)."""
    return _encoder(descriptor) is not _json_format


def _encoder(descriptor: Descriptor) -> Encoder:
    encoder = _encoders.get(descriptor.full_name)
    if encoder is None:
        try:
            encoder = _compile(descriptor, {})
        except _Unsupported:
            encoder = _json_format
        _encoders[descriptor.full_name] = encoder
    return encoder


def _json_format(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def _compile(descriptor: Descriptor, compiling: dict[str, Encoder]) -> Encoder:
    """A function made for the type, written out field by field (as dataclasses writes __init__): a
    loop over field plans costs about twice as much per message."""
    name = descriptor.full_name
    if name.startswith("google.protobuf."):
        raise _Unsupported(name)  # well-known types have JSON of their own
    if name in compiling:  # a recursive type: the encoder being made, called later
        return lambda message: compiling[name](message)
    made: dict[str, Encoder] = {}
    compiling[name] = lambda message: made["encode"](message)
    namespace: dict[str, Any] = {}
    always, present = [], []
    for index, field in enumerate(descriptor.fields):
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            raise _Unsupported(f"{name}.{field.name} is a map")
        convert = _converter(field, compiling)
        if convert is not None:
            namespace[f"c{index}"] = convert
        read = f"m.{field.name}" if field.name.isidentifier() and not keyword.iskeyword(field.name) else None
        read = read or f"getattr(m, {field.name!r})"
        if field.is_repeated:
            value = f"[c{index}(v) for v in {read}]" if convert else f"list({read})"
        else:
            value = f"c{index}({read})" if convert else read
        if field.has_presence and not field.is_repeated:
            present.append(f"    if m.HasField({field.name!r}):\n        out[{field.json_name!r}] = {value}")
        else:
            always.append(f"        {field.json_name!r}: {value},")
    source = "\n".join(["def encode(m):", "    out = {", *always, "    }", *present, "    return out"])
    exec(compile(source, f"<json encoder for {name}>", "exec"), namespace)  # our own source, from descriptors
    made["encode"] = namespace["encode"]
    compiling[name] = namespace["encode"]
    return namespace["encode"]


def _converter(field: FieldDescriptor, compiling: dict[str, Encoder]) -> Callable[[Any], Any] | None:
    if field.type in _AS_IS:
        return None
    if field.type in _INT64:
        return str
    if field.type == FieldDescriptor.TYPE_BYTES:
        return lambda value: base64.b64encode(value).decode("utf-8")
    if field.type == FieldDescriptor.TYPE_ENUM:
        names = _enum_names(field)
        return lambda value: names.get(value, value)  # an unknown number stays a number, as in json_format
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.full_name == _TIMESTAMP:
            return _timestamp
        return _compile(field.message_type, compiling)
    raise _Unsupported(f"{field.full_name} ({field.type})")  # float, double, group


# Timestamp's valid range (0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z), as protobuf checks it.
_MIN_SECONDS, _MAX_SECONDS = -62135596800, 253402300799
_EPOCH = datetime.datetime(1970, 1, 1)


@functools.lru_cache(maxsize=1 << 16)
def _date_time(seconds: int) -> str:
    return (_EPOCH + datetime.timedelta(seconds=seconds)).isoformat()


def _timestamp(value: Any) -> str:
    """Timestamp.ToJsonString() (RFC 3339, Z, 0/3/6/9 fraction digits) without its ~6 µs of datetime work:
    the date and time of a second are remembered (the same comments are shown again and again)."""
    seconds, nanos = value.seconds, value.nanos
    if not (_MIN_SECONDS <= seconds <= _MAX_SECONDS and 0 <= nanos < 1_000_000_000):
        return value.ToJsonString()  # raises as json_format would
    text = _date_time(seconds)
    if nanos == 0:
        return text + "Z"
    if nanos % 1_000_000 == 0:
        return f"{text}.{nanos // 1_000_000:03d}Z"
    if nanos % 1_000 == 0:
        return f"{text}.{nanos // 1_000:06d}Z"
    return f"{text}.{nanos:09d}Z"


def _enum_names(field: FieldDescriptor) -> dict[int, Any]:
    """Each value's JSON spelling, asked of json_format itself (it honours json_name options)."""
    names: dict[int, Any] = {}
    message_class = message_factory.GetMessageClass(field.containing_type)
    for value in field.enum_type.values:
        probe = message_class()
        if field.is_repeated:
            getattr(probe, field.name).append(value.number)
        else:
            setattr(probe, field.name, value.number)
        printed = json_format.MessageToDict(probe, always_print_fields_with_no_presence=True)[field.json_name]
        names[value.number] = printed[0] if field.is_repeated else printed
    return names
