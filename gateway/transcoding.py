"""HTTP request parts → a protobuf request, and protobuf → JSON, with protobuf's own json_format.

Per google/api/http.proto: path variables set their fields; `body: "*"` maps the whole JSON body,
`body: "field"` maps it to that field; fields bound by neither come from query parameters when
there is no whole-message body (`a.b=1` for nested fields, `ids=1&ids=2` for repeated ones).
JSON uses lowerCamelCase names and int64 as strings; proto field names are accepted too.

Every value — text from a path segment, a query parameter or a form field, or a JSON body's values —
passes the rules below before json_format reads it, because json_format is lenient where a public
API must not be (it reads `+5`, `1_0`, `٥`, ` 5`, `5.0` and `1e3` as integers, the last through a
float that loses precision), and the HTTP layers turn bytes that are not UTF-8 into U+FFFD:

- integers: canonical decimal text (ASCII digits, no leading zero, a '-' only before a non-zero
  number) or, in JSON, a number without fraction or exponent; within the range of the field's type;
- enums: the full name, the name without the enum's prefix, in any case, or the number
  (PHOTO_VARIANT_DISPLAY, display, DISPLAY, 2);
- strings: valid UTF-8;
- PATCH with no `update_mask` updates the fields present in the body (AIP-134).

A value that breaks a rule is INVALID_ARGUMENT naming the field (its proto path), in plain words.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn
from urllib.parse import parse_qsl

from google.protobuf import duration_pb2, field_mask_pb2, json_format, message_factory, timestamp_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from gateway.errors import invalid_argument, shown
from gateway.routes import Route

_WRAPPERS = frozenset(
    f"google.protobuf.{name}Value"
    for name in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
)
# Well-known types json_format writes as one JSON string, and what that string must look like.
_TEXT_MESSAGES: dict[str, tuple[type[Message], str]] = {
    "google.protobuf.Timestamp": (timestamp_pb2.Timestamp, "must be an RFC 3339 time such as 2024-05-01T10:00:00Z"),
    "google.protobuf.Duration": (duration_pb2.Duration, "must be a duration in seconds such as 1.5s"),
    "google.protobuf.FieldMask": (field_mask_pb2.FieldMask, "must be comma-separated lowerCamelCase field paths"),
}
# Messages json_format writes as a single JSON string or scalar: a query parameter can carry them.
SCALAR_MESSAGES = frozenset({*_TEXT_MESSAGES, *_WRAPPERS})
# Well-known types whose JSON is free-form (any object, any value): json_format is their only rule.
_FREE_FORM_MESSAGES = frozenset(f"google.protobuf.{name}" for name in ("Struct", "Value", "ListValue", "Any", "Empty"))

_CANONICAL_INTEGER = re.compile(r"0|-?[1-9][0-9]*")
_MAX_INTEGER_DIGITS = 20  # 2**64 has 20 digits: longer text is out of range before int() reads it
_INT32 = (-(2**31), 2**31 - 1)
_UINT32 = (0, 2**32 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_UINT64 = (0, 2**64 - 1)
_INTEGER_RANGES: dict[int, tuple[int, int]] = {
    FieldDescriptor.TYPE_INT32: _INT32,
    FieldDescriptor.TYPE_SINT32: _INT32,
    FieldDescriptor.TYPE_SFIXED32: _INT32,
    FieldDescriptor.TYPE_UINT32: _UINT32,
    FieldDescriptor.TYPE_FIXED32: _UINT32,
    FieldDescriptor.TYPE_INT64: _INT64,
    FieldDescriptor.TYPE_SINT64: _INT64,
    FieldDescriptor.TYPE_SFIXED64: _INT64,
    FieldDescriptor.TYPE_UINT64: _UINT64,
    FieldDescriptor.TYPE_FIXED64: _UINT64,
}
_INTEGER_RULE = "must be an integer in plain decimal digits, such as 42"
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_FLOAT_NAMES = frozenset({"NaN", "Infinity", "-Infinity"})
_FLOAT32_MAX = 3.4028234663852886e38
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
UPDATE_MASK = "update_mask"
IDEMPOTENCY_KEY = "idempotency_key"
IDEMPOTENCY_HEADER = "idempotency-key"


class _HugeInteger:
    """A JSON integer literal too long for any integer field (json.loads would hand int() all of it)."""


_HUGE = _HugeInteger()


def message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


@functools.cache
def _fields_by_json_name(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    return {field.json_name: field for field in descriptor.fields}


def field_named(descriptor: Descriptor, name: str) -> FieldDescriptor | None:
    """The field called `name` in proto (snake_case) or JSON (lowerCamelCase) style."""
    if not name.isascii():  # field names are; and upb's lookup fails on undecodable (surrogate) text
        return None
    return descriptor.fields_by_name.get(name) or _fields_by_json_name(descriptor).get(name)


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
        current = found.message_type if _is_plain_message(found) and not found.is_repeated else None
    return path


def _is_plain_message(field: FieldDescriptor) -> bool:
    """A message field whose JSON is an object of its own fields (not a well-known type, not a map)."""
    return (
        field.type == FieldDescriptor.TYPE_MESSAGE
        and not field.message_type.GetOptions().map_entry
        and field.message_type.full_name not in SCALAR_MESSAGES | _FREE_FORM_MESSAGES
    )


def is_query_leaf(field: FieldDescriptor) -> bool:
    """Whether a query parameter can set this field: scalars, enums and string-shaped messages."""
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        return False
    return field.type != FieldDescriptor.TYPE_MESSAGE or field.message_type.full_name in SCALAR_MESSAGES


def _refuse(where: str, description: str) -> NoReturn:
    raise invalid_argument(where, description)


# --- enum spellings -----------------------------------------------------------------------------


def _enum_prefix(enum: EnumDescriptor) -> str:
    """`PhotoVariant` → `PHOTO_VARIANT_`: the prefix the protobuf style guide gives every value."""
    snake = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", enum.name))
    return snake.upper() + "_"


@functools.cache
def short_enum_names(enum: EnumDescriptor) -> dict[str, str]:
    """Full value name → its name without the enum's prefix, lowercase; empty unless every value has
    the prefix and no short name could be read as a number."""
    prefix = _enum_prefix(enum)
    names = [value.name for value in enum.values]
    shorts = [name[len(prefix) :] for name in names]
    if not all(name.startswith(prefix) for name in names) or any(not s or s[0].isdigit() for s in shorts):
        return {}
    return {name: short.lower() for name, short in zip(names, shorts, strict=True)}


@functools.cache
def _enum_lookup(enum: EnumDescriptor) -> dict[str, str]:
    """Upper-cased spelling (full or short name) → full name."""
    lookup = {short.upper(): full for full, short in short_enum_names(enum).items()}
    lookup.update({value.name.upper(): value.name for value in enum.values})  # a full name wins a clash
    return lookup


def enum_spellings(enum: EnumDescriptor) -> list[str]:
    """The names a client may send (any case): full names, then short lowercase ones."""
    return [value.name for value in enum.values] + list(short_enum_names(enum).values())


def _enum(enum: EnumDescriptor, value: Any, where: str, *, text: bool) -> str:
    number: int | None = None
    if text and isinstance(value, str) and _CANONICAL_INTEGER.fullmatch(value) and len(value) <= 11:
        number = int(value)
    elif not text and isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isascii():
        full = _enum_lookup(enum).get(value.upper())
        if full is not None:
            return full
    if number is not None and number in enum.values_by_number:
        return enum.values_by_number[number].name
    names = list(short_enum_names(enum).values()) or [value.name for value in enum.values]
    example = enum.values[-1]
    _refuse(
        where,
        f"must be one of {', '.join(names)}, in any case; the full name ({example.name}) or number ({example.number}) "
        "also work",
    )


# --- scalar values -------------------------------------------------------------------------------


def _integer(kind: int, value: Any, where: str, *, text: bool) -> int:
    low, high = _INTEGER_RANGES[kind]
    if isinstance(value, str):
        if not _CANONICAL_INTEGER.fullmatch(value):
            _refuse(where, _INTEGER_RULE)
        number = int(value) if len(value.lstrip("-")) <= _MAX_INTEGER_DIGITS else None
    elif value is _HUGE:
        number = None
    elif not text and isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        _refuse(where, _INTEGER_RULE if text else f"{_INTEGER_RULE} (a JSON number or string)")
    if number is None or not low <= number <= high:
        _refuse(where, f"must be an integer from {low} to {high}")
    return number


def _float(kind: int, value: Any, where: str, *, text: bool) -> float | str:
    if isinstance(value, str):
        if value in _FLOAT_NAMES:
            return value
        if not _JSON_NUMBER.fullmatch(value):
            _refuse(where, "must be a decimal number such as 1.5 (or NaN, Infinity, -Infinity)")
        number = float(value)
    elif not text and isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        _refuse(where, "must be a number")
    limit = _FLOAT32_MAX if kind == FieldDescriptor.TYPE_FLOAT else float("inf")
    if not abs(number) < limit:  # also refuses NaN, which compares false with everything
        _refuse(where, "is out of range (write NaN or ±Infinity as strings)")
    return number


def _boolean(value: Any, where: str, *, text: bool) -> bool:
    if text and isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    if not text and isinstance(value, bool):
        return value
    _refuse(where, "must be true or false")


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        _refuse(where, "must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes (kept as surrogates) or a lone \uD800 escape
        _refuse(where, "is not valid UTF-8 text")
    return value


def _bytes(value: Any, where: str) -> str:
    text = _string(value, where)
    try:
        base64.b64decode(text.translate(str.maketrans("-_", "+/")) + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        _refuse(where, "must be base64")
    return text


def _message_value(descriptor: Descriptor, value: Any, where: str, *, text: bool) -> Any:
    name = descriptor.full_name
    if name in _WRAPPERS:
        return _value(descriptor.fields_by_name["value"], value, where, text=text)
    if name in _TEXT_MESSAGES:
        kind, rule = _TEXT_MESSAGES[name]
        try:
            kind().FromJsonString(_string(value, where))  # type: ignore[attr-defined]
        except (ValueError, TypeError):
            _refuse(where, rule)
        return value
    if name in _FREE_FORM_MESSAGES:
        try:
            json_format.ParseDict(value, message_class(descriptor)())
        except (json_format.ParseError, ValueError, TypeError, AttributeError):
            _refuse(where, f"is not a valid {descriptor.name}")
        return value
    return _object(descriptor, value, where)


def _value(field: FieldDescriptor, value: Any, where: str, *, text: bool) -> Any:
    """One element of `field` as json_format should read it, or GatewayError naming `where`."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _message_value(field.message_type, value, where, text=text)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return _enum(field.enum_type, value, where, text=text)
    if field.type in _INTEGER_RANGES:
        return _integer(field.type, value, where, text=text)
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return _float(field.type, value, where, text=text)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return _boolean(value, where, text=text)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return _bytes(value, where)
    return _string(value, where)


# --- JSON objects --------------------------------------------------------------------------------


def _map_key(field: FieldDescriptor, key: str, where: str) -> str:
    if field.type in _INTEGER_RANGES:
        return str(_integer(field.type, key, where, text=True))
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "true" if _boolean(key, where, text=True) else "false"
    return _string(key, where)


def _field(field: FieldDescriptor, value: Any, where: str) -> Any:
    """A JSON field value checked against its descriptor (null means the default, as in proto3 JSON)."""
    if value is None:
        return None
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        if not isinstance(value, dict):
            _refuse(where, "must be a JSON object")
        key_field, value_field = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
        return {
            _map_key(key_field, key, f"{where}[{shown(key)}]"): _value(
                value_field, item, f"{where}[{shown(key)}]", text=False
            )
            for key, item in value.items()
        }
    if field.is_repeated:
        if not isinstance(value, list):
            _refuse(where, "must be a JSON array")
        return [_value(field, item, f"{where}[{index}]", text=False) for index, item in enumerate(value)]
    return _value(field, value, where, text=False)


def _object(descriptor: Descriptor, value: Any, where: str) -> dict[str, Any]:
    """A JSON object checked field by field; keys become JSON names, as json_format expects."""
    if not isinstance(value, dict):
        _refuse(where or "body", "must be a JSON object")
    checked: dict[str, Any] = {}
    oneofs_set: dict[str, str] = {}
    for key, item in value.items():
        field = field_named(descriptor, key)
        if field is None:
            _refuse(f"{where}.{shown(key)}" if where else shown(key), "no such field")
        assert field is not None
        path = f"{where}.{field.name}" if where else field.name
        if field.json_name in checked:
            _refuse(path, "is given twice (once in each name style)")
        oneof = field.containing_oneof
        if oneof is not None and oneof.name != "_" + field.name and item is not None:  # not proto3 `optional`
            if oneof.name in oneofs_set:
                _refuse(path, f"cannot be set together with {oneofs_set[oneof.name]} (one of {oneof.name})")
            oneofs_set[oneof.name] = field.name
        checked[field.json_name] = _field(field, item, path)
    return checked


def _parse_json_int(literal: str) -> int | _HugeInteger:
    return int(literal) if len(literal) <= _MAX_INTEGER_DIGITS + 1 else _HUGE


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _load_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid_argument("body", "is not UTF-8 JSON") from exc
    try:
        return json.loads(text, parse_int=_parse_json_int, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise invalid_argument("body", f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from exc
    except RecursionError as exc:
        raise invalid_argument("body", "is nested too deeply") from exc
    except ValueError as exc:  # NaN / Infinity literals
        raise invalid_argument("body", "is not valid JSON") from exc


def parse_body(route: Route, body: bytes, request: Message) -> Any:
    """Fill `request` from a JSON body; returns the JSON document as sent."""
    document = _load_json(body)
    descriptor = route.method.input_type
    try:
        if route.body == "*":
            checked = _object(descriptor, document, "")
        else:
            field = descriptor.fields_by_name[route.body]
            checked = {field.json_name: _field(field, document, field.name)}
    except RecursionError as exc:
        raise invalid_argument("body", "is nested too deeply") from exc
    try:
        json_format.ParseDict(checked, request)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:  # the checks should prevent it
        raise invalid_argument("body", f"does not fit {descriptor.name}") from exc
    return document


# --- text values (path, query, form) -------------------------------------------------------------


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
    converted = [_value(leaf, value, where, text=True) for value in values]
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


# --- headers that set fields ---------------------------------------------------------------------


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


# --- update masks --------------------------------------------------------------------------------


def _present_paths(descriptor: Descriptor, document: dict[str, Any], prefix: str = "") -> list[str]:
    """The leaf field paths a (checked) JSON object sets, as grpc-gateway's FieldMaskFromRequestBody."""
    paths: list[str] = []
    for key, value in document.items():
        field = field_named(descriptor, key)
        assert field is not None, "the body was checked against the descriptor"
        path = prefix + field.name
        if _is_plain_message(field) and not field.is_repeated and isinstance(value, dict) and value:
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
        excluded = set(route.bound_fields) | {UPDATE_MASK}
    else:
        body_field = request.DESCRIPTOR.fields_by_name[route.body]
        if not _is_plain_message(body_field) or body_field.is_repeated:
            return
        resource, excluded = body_field.message_type, set()
    present = _present_paths(resource, document) if isinstance(document, dict) else []
    paths = [path for path in present if path.split(".", 1)[0] not in excluded]
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
    data = json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    if route is not None and route.response_body:
        field = route.method.output_type.fields_by_name[route.response_body]
        return data.get(field.json_name)
    return data
