"""HTTP request parts → a protobuf request, and protobuf → JSON, with protobuf's own json_format.

Per google/api/http.proto: path variables set their fields; `body: "*"` maps the whole JSON body,
`body: "field"` maps it to that field; fields bound by neither come from query parameters when
there is no whole-message body (`a.b=1` for nested fields, `ids=1&ids=2` for repeated ones).
JSON uses lowerCamelCase names and int64 as strings; proto field names are accepted too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from gateway.errors import invalid_argument
from gateway.routes import Route

_TRUE = {"true", "1"}
_FALSE = {"false", "0"}
# Messages json_format writes as a single JSON string: a query parameter can carry them.
SCALAR_MESSAGES = frozenset(
    {
        "google.protobuf.Timestamp",
        "google.protobuf.Duration",
        "google.protobuf.FieldMask",
        *(
            f"google.protobuf.{name}Value"
            for name in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
        ),
    }
)


def message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


def resolve_field_path(descriptor: Descriptor, dotted: str) -> list[FieldDescriptor] | None:
    """Fields along `a.b.c` (proto or JSON names); None when some name is unknown."""
    path: list[FieldDescriptor] = []
    current: Descriptor | None = descriptor
    for name in dotted.split("."):
        if current is None:
            return None
        found = current.fields_by_name.get(name) or current.fields_by_camelcase_name.get(name)
        if found is None:
            return None
        path.append(found)
        is_plain_message = found.type == FieldDescriptor.TYPE_MESSAGE and found.message_type.full_name not in (
            SCALAR_MESSAGES
        )
        current = found.message_type if is_plain_message and not _is_repeated(found) else None
    return path


def _is_repeated(field: FieldDescriptor) -> bool:
    return field.is_repeated


def is_query_leaf(field: FieldDescriptor) -> bool:
    """Whether a query parameter can set this field: scalars, enums and string-shaped messages."""
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        return False
    return field.type != FieldDescriptor.TYPE_MESSAGE or field.message_type.full_name in SCALAR_MESSAGES


def _json_value(field: FieldDescriptor, text: str) -> Any:
    if field.type == FieldDescriptor.TYPE_BOOL:
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"{text!r} is not a boolean (true or false)")
    return text  # json_format reads numbers, enums (names or numbers), bytes and WKTs from strings


def assign(message: Message, dotted: str, values: list[str]) -> None:
    """Set the field at `dotted` from text values (a path variable, a query parameter, a form field)."""
    path = resolve_field_path(message.DESCRIPTOR, dotted)
    if path is None:
        raise invalid_argument(dotted, "no such field")
    leaf = path[-1]
    if not is_query_leaf(leaf) or any(_is_repeated(f) for f in path[:-1]):
        raise invalid_argument(dotted, "cannot be set from a text value")
    if not _is_repeated(leaf) and len(values) > 1:
        raise invalid_argument(dotted, "given more than once but is not repeated")
    target = message
    for step in path[:-1]:
        target = getattr(target, step.name)
    try:
        converted = [_json_value(leaf, value) for value in values]
        parsed = type(target)()
        json_format.ParseDict({leaf.json_name: converted if _is_repeated(leaf) else converted[0]}, parsed)
    except (ValueError, json_format.ParseError) as exc:
        raise invalid_argument(dotted, _clean(exc)) from exc
    if _is_repeated(leaf):
        getattr(target, leaf.name).extend(getattr(parsed, leaf.name))
    elif leaf.type == FieldDescriptor.TYPE_MESSAGE:
        getattr(target, leaf.name).CopyFrom(getattr(parsed, leaf.name))
    else:
        setattr(target, leaf.name, getattr(parsed, leaf.name))


def _clean(exc: Exception) -> str:
    return str(exc).rstrip(".") or type(exc).__name__


def group_query(descriptor: Descriptor, items: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Values per field (proto path), in order, whichever name style each parameter used.

    Names that are no field are dropped (like grpc-gateway: cache busters and the like pass).
    """
    grouped: dict[str, list[str]] = {}
    for key, value in items:
        path = resolve_field_path(descriptor, key)
        if path is not None:
            grouped.setdefault(".".join(field.name for field in path), []).append(value)
    return grouped


def _bound(route: Route, dotted: str) -> bool:
    """Whether `dotted` names a field the path or the body already sets (or a field inside one)."""
    path = resolve_field_path(route.method.input_type, dotted)
    if path is None:
        return False
    names = [f.name for f in path]
    return any(".".join(names[:i]) in route.bound_fields for i in range(1, len(names) + 1))


def build_request(
    route: Route, bindings: dict[str, str], query: Iterable[tuple[str, str]], body: bytes | None
) -> Message:
    """The gRPC request for one HTTP call, or GatewayError(INVALID_ARGUMENT) naming what is wrong."""
    request = message_class(route.method.input_type)()
    if route.body and body:
        parse_body(route, body, request)
    if route.body != "*":
        for key, values in group_query(route.method.input_type, query).items():
            if not _bound(route, key):
                assign(request, key, values)
    for dotted, value in bindings.items():
        assign(request, dotted, [value])
    return request


def parse_body(route: Route, body: bytes, request: Message) -> None:
    try:
        text = body.decode("utf-8")
        if route.body == "*":
            json_format.Parse(text, request)
        else:
            field = route.method.input_type.fields_by_name[route.body]
            json_format.ParseDict({field.json_name: json.loads(text)}, request)
    except UnicodeDecodeError as exc:
        raise invalid_argument("body", "is not UTF-8 JSON") from exc
    except (ValueError, json_format.ParseError) as exc:
        raise invalid_argument("body", _clean(exc)) from exc


def to_json(message: Message, route: Route | None = None) -> Any:
    """Every field, defaults included, so clients see a stable shape (unset messages are left out)."""
    data = json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    if route is not None and route.response_body:
        field = route.method.output_type.fields_by_name[route.response_body]
        return data.get(field.json_name)
    return data
