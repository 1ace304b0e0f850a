"""`GET /openapi.json`: an OpenAPI 3 document built from the same routes and message descriptors.

Schemas follow what json_format reads and writes: lowerCamelCase properties, 64-bit integers as
decimal strings, enums by name, well-known types in their JSON forms. Errors are google.rpc.Status.
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from gateway import sse
from gateway.routes import Kind, Route, media_fields
from gateway.transcoding import IDEMPOTENCY_KEY, is_query_leaf
from gateway.uploads import FILE_PART
from gateway.values import enum_spellings
from services.runtime.auth import is_public

STATUS_SCHEMA = "google.rpc.Status"
# Canonical decimal only (what the gateway accepts): no leading zero, no '+'; 18 digits keep the
# pattern inside the type's range.
_INT64 = {"type": "string", "format": "int64", "pattern": "^(0|-?[1-9][0-9]{0,17})$"}
_UINT64 = {"type": "string", "format": "uint64", "pattern": "^(0|[1-9][0-9]{0,18})$"}
_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldDescriptor.TYPE_INT64: _INT64,
    FieldDescriptor.TYPE_SINT64: _INT64,
    FieldDescriptor.TYPE_SFIXED64: _INT64,
    FieldDescriptor.TYPE_UINT64: _UINT64,
    FieldDescriptor.TYPE_FIXED64: _UINT64,
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0, "maximum": 4294967295},
    FieldDescriptor.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0, "maximum": 4294967295},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$"},
    "google.protobuf.FieldMask": {"type": "string", "description": "Comma-separated lowerCamelCase field paths."},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "additionalProperties": True,
    },
}
_WRAPPED = {
    f"google.protobuf.{name}Value": kind
    for name, kind in (
        ("Double", FieldDescriptor.TYPE_DOUBLE),
        ("Float", FieldDescriptor.TYPE_FLOAT),
        ("Int64", FieldDescriptor.TYPE_INT64),
        ("UInt64", FieldDescriptor.TYPE_UINT64),
        ("Int32", FieldDescriptor.TYPE_INT32),
        ("UInt32", FieldDescriptor.TYPE_UINT32),
        ("Bool", FieldDescriptor.TYPE_BOOL),
        ("String", FieldDescriptor.TYPE_STRING),
        ("Bytes", FieldDescriptor.TYPE_BYTES),
    )
}
_MEDIA_TYPES = ("image/*", "application/octet-stream")


class _Schemas:
    """components/schemas, filled as messages are referenced."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {
            STATUS_SCHEMA: {
                "type": "object",
                "description": "The error model of every failed call (google.rpc.Status).",
                "properties": {
                    "code": {"type": "integer", "format": "int32", "description": "The gRPC status code."},
                    "message": {"type": "string"},
                    "details": {"type": "array", "items": _WELL_KNOWN["google.protobuf.Any"]},
                },
            }
        }

    def message(self, descriptor: Descriptor) -> dict[str, Any]:
        name = descriptor.full_name
        if name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[name])
        if name in _WRAPPED:
            return {**_SCALARS[_WRAPPED[name]], "nullable": True}
        if name not in self.components:
            self.components[name] = {}  # placeholder first: messages may refer to themselves
            self.components[name] = {
                "type": "object",
                "properties": {field.json_name: self.field(field) for field in descriptor.fields},
            }
        return {"$ref": f"#/components/schemas/{name}"}

    def single(self, field: FieldDescriptor) -> dict[str, Any]:
        """The schema of one value of `field` (ignoring repetition)."""
        if field.type == FieldDescriptor.TYPE_ENUM:
            return {
                "type": "string",
                "enum": enum_spellings(field.enum_type),
                "description": "Answers use the full name; requests may also use the short name in any case, "
                "or the number.",
            }
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            return self.message(field.message_type)
        return dict(_SCALARS[field.type])

    def field(self, field: FieldDescriptor) -> dict[str, Any]:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.single(value)}
        if field.is_repeated:
            return {"type": "array", "items": self.single(field)}
        return self.single(field)


def _query_parameters(
    schemas: _Schemas,
    descriptor: Descriptor,
    bound: frozenset[str],
    proto_prefix: str = "",
    json_prefix: str = "",
    seen: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """One parameter per settable leaf: `a.b` for nested messages, arrays for repeated fields."""
    parameters: list[dict[str, Any]] = []
    for field in descriptor.fields:
        proto_path, json_path = proto_prefix + field.name, json_prefix + field.json_name
        if proto_path in bound:
            continue
        if is_query_leaf(field):
            parameters.append({"name": json_path, "in": "query", "schema": schemas.field(field)})
        elif (
            not field.is_repeated
            and not field.message_type.GetOptions().map_entry
            and field.message_type.full_name not in seen
        ):
            parameters += _query_parameters(
                schemas,
                field.message_type,
                bound,
                proto_path + ".",
                json_path + ".",
                (*seen, field.message_type.full_name),
            )
    return parameters


def _path_parameters(schemas: _Schemas, route: Route) -> list[dict[str, Any]]:
    parameters = []
    for variable in route.template.variables:
        descriptor: Descriptor = route.method.input_type
        field = None
        for name in variable.field_path.split("."):
            field = descriptor.fields_by_name[name]
            descriptor = field.message_type
        assert field is not None
        parameters.append({"name": variable.field_path, "in": "path", "required": True, "schema": schemas.field(field)})
    return parameters


def _request_body(schemas: _Schemas, route: Route) -> dict[str, Any] | None:
    if route.kind is Kind.UPLOAD:
        fields = media_fields(route.method.input_type)
        assert fields is not None
        header, _ = fields
        form = schemas.message(header.message_type)
        properties = {
            field.json_name: schemas.field(field) for field in header.message_type.fields if is_query_leaf(field)
        }
        properties[FILE_PART] = {"type": "string", "format": "binary"}
        binary = {"schema": {"type": "string", "format": "binary"}}
        return {
            "required": True,
            "description": f"The bytes, raw (metadata in query parameters) or as the '{FILE_PART}' part of a form "
            f"whose other fields are the metadata ({form['$ref'].rsplit('/', 1)[-1]}) and come first.",
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": properties, "required": [FILE_PART]},
                    "encoding": {FILE_PART: {"contentType": ", ".join(_MEDIA_TYPES)}},
                },
                **{media_type: binary for media_type in _MEDIA_TYPES},
            },
        }
    if not route.body:
        return None
    if route.body == "*":
        schema = schemas.message(route.method.input_type)
    else:
        schema = schemas.field(route.method.input_type.fields_by_name[route.body])
    return {"required": False, "content": {"application/json": {"schema": schema}}}


def _responses(schemas: _Schemas, route: Route) -> dict[str, Any]:
    error = {
        "description": "An error, as google.rpc.Status.",
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{STATUS_SCHEMA}"}}},
    }
    if route.kind is Kind.DOWNLOAD:
        cache_headers = {
            "ETag": {"schema": {"type": "string"}, "description": "The content's SHA-256, quoted."},
            "Cache-Control": {"schema": {"type": "string"}},
        }
        binary = {"schema": {"type": "string", "format": "binary"}}
        return {
            "200": {
                "description": "The content.",
                "headers": cache_headers,
                "content": {media_type: binary for media_type in _MEDIA_TYPES},
            },
            "304": {"description": "Not modified (If-None-Match).", "headers": cache_headers},
            "307": {
                "description": "The content is at Location: a short-lived signed URL (asked for with accept_url).",
                "headers": {
                    "Location": {"schema": {"type": "string"}},
                    "Cache-Control": {"schema": {"type": "string"}},
                },
            },
            "default": error,
        }
    output = route.method.output_type
    if route.kind is Kind.EVENTS:
        return {
            "200": {
                "description": f"Server-Sent Events: each event's data is one {output.name} as JSON, its id the "
                "message's position (when it has one); comment lines are heartbeats; an `error` event with a "
                "google.rpc.Status ends the stream (an expired token: code 16).",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            "default": error,
        }
    if route.response_body:
        schema = schemas.field(output.fields_by_name[route.response_body])
    else:
        schema = schemas.message(output)
    return {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}, "default": error}


def _settable(route: Route) -> Descriptor:
    """The message the client's fields fill: the request, or an upload's metadata message."""
    if route.kind is Kind.UPLOAD:
        header, _ = media_fields(route.method.input_type) or (None, None)
        assert header is not None
        return header.message_type
    return route.method.input_type


def _operation(schemas: _Schemas, route: Route) -> dict[str, Any]:
    parameters = _path_parameters(schemas, route)
    if route.kind is Kind.UPLOAD:
        parameters += _query_parameters(schemas, _settable(route), frozenset())
    elif route.body != "*":
        parameters += _query_parameters(schemas, route.method.input_type, route.bound_fields)
    if route.kind is Kind.DOWNLOAD:
        parameters.append({"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}})
    if route.kind is Kind.EVENTS and sse.RESUME_FIELD in route.method.input_type.fields_by_name:
        parameters.append(
            {
                "name": "Last-Event-ID",
                "in": "header",
                "required": False,
                "description": f"Sets {sse.RESUME_FIELD}: the id of the last event received, to resume after it.",
                "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
            }
        )
    if IDEMPOTENCY_KEY in _settable(route).fields_by_name:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": f"Sets {IDEMPOTENCY_KEY} (printable ASCII, bare or in double quotes): a retry "
                "with the same key and request returns the first answer.",
                "schema": {"type": "string", "pattern": "^[!#-\\[\\]-~]+$"},
            }
        )
    operation: dict[str, Any] = {
        "operationId": f"{route.method.containing_service.name}_{route.method.name}",
        "tags": [route.method.containing_service.name],
        "parameters": parameters,
        "responses": _responses(schemas, route),
        "security": [] if is_public(route.grpc_path) else [{"bearerAuth": []}],
    }
    body = _request_body(schemas, route)
    if body is not None:
        operation["requestBody"] = body
    return operation


def _same_shape_path(paths: dict[str, dict[str, Any]], path: str) -> str | None:
    """An existing path that differs from `path` only in variable names (OpenAPI forbids both)."""
    shape = re.sub(r"\{[^}]*\}", "{}", path)
    return next((p for p in paths if p != path and re.sub(r"\{[^}]*\}", "{}", p) == shape), None)


def _rename_path_parameters(operation: dict[str, Any], path: str) -> None:
    """Name this operation's path parameters after `path`'s variables (the gateway binds by position)."""
    names = re.findall(r"\{([^}]*)\}", path)
    in_path = [parameter for parameter in operation["parameters"] if parameter["in"] == "path"]
    for parameter, name in zip(in_path, names, strict=True):
        if parameter["name"] != name:
            parameter["description"] = f"Sets the request's {parameter['name']}."
            parameter["name"] = name


def document(routes: list[Route]) -> dict[str, Any]:
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    seen_ids: dict[str, int] = {}
    for route in sorted(routes, key=lambda r: (r.template.openapi_path(), r.http_method)):
        operation = _operation(schemas, route)
        count = seen_ids[operation["operationId"]] = seen_ids.get(operation["operationId"], 0) + 1
        if count > 1:  # additional bindings of one RPC
            operation["operationId"] += f"_{count}"
        path = route.template.openapi_path()
        existing = _same_shape_path(paths, path)
        if existing is not None:
            _rename_path_parameters(operation, existing)
            path = existing
        paths.setdefault(path, {})[route.http_method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Shutter API",
            "version": "v1",
            "description": "Generated from the google.api.http annotations of Shutter's gRPC contracts.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
