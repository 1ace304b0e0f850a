"""HTTP request parts → a protobuf request, and protobuf → JSON, with protobuf's own json_format.

Per google/api/http.proto: path variables set their fields; `body: "*"` maps the whole JSON body,
`body: "field"` maps it to that field; fields bound by neither come from query parameters when
there is no whole-message body (`a.b=1` for nested fields, `ids=1&ids=2` for repeated ones).
JSON uses lowerCamelCase names and int64 as strings; proto field names are accepted too.

Every value passes gateway.values' rules first (canonical integers, enum short names, UTF-8 text),
so a bad one is a 400 naming its field. Two HTTP conventions are added here: PATCH without an
`update_mask` updates the fields present in the body (AIP-134, as grpc-gateway), and the
`Idempotency-Key` header sets a request's `idempotency_key`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from gateway.errors import invalid_argument, shown
from gateway.json_encoding import message_to_dict
from gateway.routes import Route
from gateway.values import (
    SCALAR_MESSAGES,
    field_named,
    is_plain_message,
    json_field,
    json_object,
    load_json,
    text_value,
)

UPDATE_MASK = "update_mask"
IDEMPOTENCY_KEY = "idempotency_key"
IDEMPOTENCY_HEADER = "idempotency-key"
# Singular fields whose checked text value (gateway.values) is already the Python value protobuf stores: set
# directly, not through json_format (a path's id took a parser and a message copy on every call).
_DIRECT_TYPES = frozenset(
    {
        *(FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT32),
        *(FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64),
        *(FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED32),
        *(FieldDescriptor.TYPE_SFIXED64, FieldDescriptor.TYPE_BOOL, FieldDescriptor.TYPE_STRING),
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
        found = field_named(current, name)
        if found is None:
            return None
        path.append(found)
        current = found.message_type if is_plain_message(found) and not found.is_repeated else None
    return path


def is_query_leaf(field: FieldDescriptor) -> bool:
    """Whether a query parameter can set this field: scalars, enums and string-shaped messages."""
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        return False
    return field.type != FieldDescriptor.TYPE_MESSAGE or field.message_type.full_name in SCALAR_MESSAGES


def parse_body(route: Route, body: bytes, request: Message) -> Any:
    """Fill `request` from a JSON body; returns the JSON document as sent."""
    document = load_json(body)
    descriptor = route.method.input_type
    if route.body == "*":
        checked = json_object(descriptor, document)
    else:
        field = descriptor.fields_by_name[route.body]
        checked = {field.json_name: json_field(field, document, field.name)}
    try:
        json_format.ParseDict(checked, request)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:  # the checks should prevent it
        raise invalid_argument("body", f"does not fit {descriptor.name}") from exc
    return document


def query_items(raw: bytes) -> list[tuple[str, str]]:
    """A raw query string's (name, value) pairs. Bytes that are not UTF-8 are kept as surrogates (not
    turned into U+FFFD), so the field they land in refuses them by name."""
    return parse_qsl(raw.decode("utf-8", "surrogateescape"), keep_blank_values=True, errors="surrogateescape")


def assign(message: Message, dotted: str, values: list[str], prefix: str = "") -> None:
    """Set the field at `dotted` from text values (a path variable, a query parameter, a form field).

    Errors name the field's proto path, after `prefix` when `message` sits inside the request.
    """
    path = resolve_field_path(message.DESCRIPTOR, dotted)
    if path is None:
        raise invalid_argument(shown(dotted), "no such field")
    where = prefix + ".".join(field.name for field in path)
    leaf = path[-1]
    if not is_query_leaf(leaf) or any(f.is_repeated for f in path[:-1]):
        raise invalid_argument(where, "cannot be set from a text value")
    if not leaf.is_repeated and len(values) > 1:
        raise invalid_argument(where, "given more than once but is not repeated")
    target = message
    for step in path[:-1]:
        target = getattr(target, step.name)
    converted = [text_value(leaf, value, where) for value in values]
    if not leaf.is_repeated and leaf.type in _DIRECT_TYPES:
        setattr(target, leaf.name, converted[0])
        return
    parsed = type(target)()
    try:
        json_format.ParseDict({leaf.json_name: converted if leaf.is_repeated else converted[0]}, parsed)
    except (json_format.ParseError, ValueError, TypeError) as exc:  # the checks above should not let this happen
        raise invalid_argument(where, "is not a valid value") from exc
    if leaf.is_repeated:
        getattr(target, leaf.name).extend(getattr(parsed, leaf.name))
    elif leaf.type == FieldDescriptor.TYPE_MESSAGE:
        getattr(target, leaf.name).CopyFrom(getattr(parsed, leaf.name))
    else:
        setattr(target, leaf.name, getattr(parsed, leaf.name))


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


def apply_idempotency_key(message: Message, header: str | None, where: str = IDEMPOTENCY_KEY) -> None:
    """The `Idempotency-Key` header (IETF draft; Stripe's name) sets a message's `idempotency_key`.

    Both a bare token and the draft's quoted string are accepted. A header that disagrees with the
    field given in the body, query or form is refused: which one would the client mean?
    """
    field = message.DESCRIPTOR.fields_by_name.get(IDEMPOTENCY_KEY)
    if header is None or field is None or field.type != FieldDescriptor.TYPE_STRING or field.is_repeated:
        return
    key = header[1:-1] if len(header) >= 2 and header[0] == header[-1] == '"' else header
    if not key or not (key.isascii() and key.isprintable()) or '"' in key or "\\" in key:
        raise invalid_argument(where, "the Idempotency-Key header must be printable ASCII, bare or in double quotes")
    given = getattr(message, IDEMPOTENCY_KEY)
    if given and given != key:
        raise invalid_argument(where, "the Idempotency-Key header and the idempotency_key field differ")
    setattr(message, IDEMPOTENCY_KEY, key)


def _present_paths(descriptor: Descriptor, document: dict[str, Any], prefix: str = "") -> list[str]:
    """The leaf field paths a (checked) JSON object sets, as grpc-gateway's FieldMaskFromRequestBody."""
    paths: list[str] = []
    for key, value in document.items():
        field = field_named(descriptor, key)
        assert field is not None, "the body was checked against the descriptor"
        path = prefix + field.name
        if is_plain_message(field) and not field.is_repeated and isinstance(value, dict) and value:
            paths += _present_paths(field.message_type, value, path + ".")
        else:
            paths.append(path)
    return paths


def _implied_update_mask(route: Route, request: Message, document: Any) -> None:
    """PATCH without an `update_mask` updates what the body sets, not every field (AIP-134)."""
    mask = request.DESCRIPTOR.fields_by_name.get(UPDATE_MASK)
    if (
        route.http_method != "PATCH"
        or not route.body
        or mask is None
        or mask.message_type is None
        or mask.message_type.full_name != "google.protobuf.FieldMask"
        or request.HasField(UPDATE_MASK)
    ):
        return
    if route.body == "*":
        resource: Descriptor = request.DESCRIPTOR
        base = ""
    else:
        body_field = request.DESCRIPTOR.fields_by_name[route.body]
        if not is_plain_message(body_field) or body_field.is_repeated:
            return
        resource, base = body_field.message_type, route.body + "."
    # What the path binds names the resource; it is not an update.
    excluded = {bound[len(base) :] for bound in route.bound_fields if bound.startswith(base)} | {UPDATE_MASK}
    present = _present_paths(resource, document) if isinstance(document, dict) else []
    paths = [path for path in present if not any(path == e or path.startswith(e + ".") for e in excluded)]
    if not paths:
        raise invalid_argument(UPDATE_MASK, "nothing to update: the body sets no field and no update_mask was given")
    getattr(request, UPDATE_MASK).paths.extend(paths)


def build_request(
    route: Route,
    bindings: dict[str, str],
    query: Iterable[tuple[str, str]],
    body: bytes | None,
    headers: Mapping[str, str] | None = None,
) -> Message:
    """The gRPC request for one HTTP call, or GatewayError(INVALID_ARGUMENT) naming what is wrong."""
    request = message_class(route.method.input_type)()
    document = parse_body(route, body, request) if route.body and body else None
    if route.body != "*":
        for key, values in group_query(route.method.input_type, query).items():
            if not _bound(route, key):
                assign(request, key, values)
    for dotted, value in bindings.items():
        assign(request, dotted, [value])
    if headers is not None:
        apply_idempotency_key(request, headers.get(IDEMPOTENCY_HEADER))
    _implied_update_mask(route, request, document)
    return request


def to_json(message: Message, route: Route | None = None) -> Any:
    """Every field, defaults included, so clients see a stable shape (unset messages are left out)."""
    data = message_to_dict(message)
    if route is not None and route.response_body:
        field = route.method.output_type.fields_by_name[route.response_body]
        return data.get(field.json_name)
    return data
