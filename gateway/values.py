"""What a value may look like over HTTP: the rules every value passes before json_format reads it.

Values are text (a path segment, a query parameter, a form field) or JSON (a body's values).
json_format is lenient where a public API must not be: it reads `+5`, `1_0`, `٥`, ` 5`, `5.0` and
`1e3` as integers (the last through a float that loses precision), and the HTTP layers turn bytes
that are not UTF-8 into U+FFFD. So, driven by the field descriptors:

- integers: canonical decimal text (ASCII digits, no leading zero, '-' only before a non-zero
  number) or, in JSON, a number without fraction or exponent; within the range of the field's type;
- enums: the full name, the name without the enum's prefix, in any case, or the number
  (PHOTO_VARIANT_DISPLAY, display, DISPLAY, 2);
- strings: valid UTF-8; bytes: base64; well-known types: their JSON forms;
- JSON objects: known fields only (either name style, not both), one per oneof.

A value that breaks a rule is INVALID_ARGUMENT naming the field (its proto path) in plain words:
no exception text reaches a client.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from typing import Any, NoReturn

from google.protobuf import duration_pb2, field_mask_pb2, json_format, message_factory, timestamp_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from gateway.errors import invalid_argument, shown

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


class _HugeInteger:
    """A JSON integer literal too long for any integer field (json.loads would hand int() all of it)."""


_HUGE = _HugeInteger()


@functools.cache
def _fields_by_json_name(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    return {field.json_name: field for field in descriptor.fields}


def field_named(descriptor: Descriptor, name: str) -> FieldDescriptor | None:
    """The field called `name` in proto (snake_case) or JSON (lowerCamelCase) style."""
    if not name.isascii():  # field names are; and upb's lookup fails on undecodable (surrogate) text
        return None
    return descriptor.fields_by_name.get(name) or _fields_by_json_name(descriptor).get(name)


def is_plain_message(field: FieldDescriptor) -> bool:
    """A message field whose JSON is an object of its own fields (not a well-known type, not a map)."""
    return (
        field.type == FieldDescriptor.TYPE_MESSAGE
        and not field.message_type.GetOptions().map_entry
        and field.message_type.full_name not in SCALAR_MESSAGES | _FREE_FORM_MESSAGES
    )


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
            json_format.ParseDict(value, message_factory.GetMessageClass(descriptor)())
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


def load_json(body: bytes) -> Any:
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


def text_value(field: FieldDescriptor, text: str, where: str) -> Any:
    """One element of `field` from text (a path segment, a query parameter, a form field)."""
    return _value(field, text, where, text=True)


def json_object(descriptor: Descriptor, value: Any, where: str = "") -> dict[str, Any]:
    """A JSON object checked against `descriptor`, keyed by JSON names, ready for json_format."""
    try:
        return _object(descriptor, value, where)
    except RecursionError as exc:
        raise invalid_argument("body", "is nested too deeply") from exc


def json_field(field: FieldDescriptor, value: Any, where: str) -> Any:
    """A JSON value checked against `field` (repeated, map or single)."""
    try:
        return _field(field, value, where)
    except RecursionError as exc:
        raise invalid_argument("body", "is nested too deeply") from exc
