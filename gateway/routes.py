"""The REST surface, read from the `google.api.http` annotations of the contracts.

Path templates follow google/api/http.proto:

    Template = "/" Segments [ Verb ] ;  Segment = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;  Verb = ":" LITERAL ;

Nothing here knows any particular service: a newly annotated RPC becomes a route by itself.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor

_PATTERNS = ("get", "put", "post", "delete", "patch")


class TemplateError(ValueError):
    """An annotation whose path template does not follow http.proto's grammar."""


@dataclass(frozen=True)
class Variable:
    """`{field.path=segments}`: binds segments[start:end] of the path to a request field."""

    field_path: str
    start: int
    end: int | None  # None: runs to the end of the path (the template ends in `**`)


@dataclass(frozen=True)
class Template:
    text: str
    segments: tuple[str, ...]  # literals, "*" or "**"
    variables: tuple[Variable, ...]
    verb: str | None

    @classmethod
    def parse(cls, text: str) -> Template:
        if not text.startswith("/"):
            raise TemplateError(f"{text!r}: a template starts with '/'")
        body, verb = _split_verb(text[1:])
        segments: list[str] = []
        variables: list[Variable] = []
        for part in _split_segments(body, text):
            if part.startswith("{"):
                if not part.endswith("}"):
                    raise TemplateError(f"{text!r}: unbalanced braces")
                name, _, sub = part[1:-1].partition("=")
                if not name or any(not piece.isidentifier() for piece in name.split(".")):
                    raise TemplateError(f"{text!r}: bad field path {name!r}")
                pieces = sub.split("/") if sub else ["*"]
                start = len(segments)
                segments.extend(pieces)
                variables.append(Variable(name, start, None if "**" in pieces else len(segments)))
            else:
                segments.append(part)
        if any(not segment or "{" in segment or "}" in segment for segment in segments):
            raise TemplateError(f"{text!r}: empty segment or stray brace")
        if "**" in segments[:-1]:
            raise TemplateError(f"{text!r}: '**' may only end a template")
        return cls(text, tuple(segments), tuple(variables), verb)

    def match(self, path: str) -> dict[str, str] | None:
        """Bindings (field path → decoded value) when `path` (still percent-encoded) fits."""
        raw = path[1:] if path.startswith("/") else path
        if self.verb is not None:
            head, _, last = raw.rpartition("/")
            last = last.replace("%3A", ":").replace("%3a", ":")  # some clients escape the verb's colon
            suffix = ":" + self.verb
            if not last.endswith(suffix):
                return None
            raw = f"{head}/{last[: -len(suffix)]}" if head else last[: -len(suffix)]
        parts = raw.split("/")
        if self.segments and self.segments[-1] == "**":
            if len(parts) < len(self.segments) - 1:
                return None
        elif len(parts) != len(self.segments):
            return None
        for pattern, part in zip(self.segments, parts, strict=False):
            if pattern == "**":
                break
            if pattern == "*":
                if not part:
                    return None
            elif unquote(part) != pattern:
                return None
        # Bytes that are not UTF-8 stay as surrogates (not U+FFFD), so the field refuses them by name.
        bindings = {}
        for variable in self.variables:
            taken = parts[variable.start : variable.end]
            if len(taken) == 1:
                bindings[variable.field_path] = unquote(taken[0], errors="surrogateescape")
            else:  # multi-segment values keep their slashes; an escaped one stays escaped
                bindings[variable.field_path] = "/".join(
                    unquote(p.replace("%2F", "%252F"), errors="surrogateescape") for p in taken
                )
        return bindings

    @property
    def specificity(self) -> tuple[int, int]:
        """Prefer routes with a verb, then with more literal segments, when several match."""
        literals = sum(1 for segment in self.segments if segment not in ("*", "**"))
        return (self.verb is not None, literals)

    def openapi_path(self) -> str:
        """The template as an OpenAPI path: each variable becomes one `{field.path}` parameter."""
        pieces: list[str] = []
        index = 0
        starts = {variable.start: variable for variable in self.variables}
        while index < len(self.segments):
            variable = starts.get(index)
            if variable is not None:
                pieces.append("{" + variable.field_path + "}")
                index = variable.end if variable.end is not None else len(self.segments)
            else:
                pieces.append(self.segments[index])
                index += 1
        return "/" + "/".join(pieces) + (":" + self.verb if self.verb else "")


def _split_verb(body: str) -> tuple[str, str | None]:
    """A verb is the text after a ':' outside braces in the last segment."""
    depth = 0
    for index in range(len(body) - 1, -1, -1):
        char = body[index]
        if char == "}":
            depth += 1
        elif char == "{":
            depth -= 1
        elif depth == 0 and char == "/":
            return body, None
        elif depth == 0 and char == ":":
            return body[:index], body[index + 1 :]
    return body, None


def _split_segments(body: str, text: str) -> Iterator[str]:
    """Split on '/' outside braces (a variable's own sub-pattern may contain '/')."""
    depth = 0
    current: list[str] = []
    for char in body:
        if char == "{":
            depth += 1
            if depth > 1:
                raise TemplateError(f"{text!r}: nested braces")
        elif char == "}":
            depth -= 1
        if char == "/" and depth == 0:
            yield "".join(current)
            current = []
        else:
            current.append(char)
    if depth:
        raise TemplateError(f"{text!r}: unbalanced braces")
    yield "".join(current)


class Kind(enum.Enum):
    """How a route is transcoded: plain JSON, streamed media for the byte-carrying RPCs, or events."""

    UNARY = "unary"
    UPLOAD = "upload"  # client stream of oneof {metadata message, bytes chunk}
    DOWNLOAD = "download"  # server stream of oneof {info message, bytes chunk}
    EVENTS = "events"  # any other server stream: Server-Sent Events (gateway.sse)


@dataclass(frozen=True)
class Route:
    http_method: str
    template: Template
    service: str  # key in topology.CONTRACTS, names the channel
    method: MethodDescriptor
    body: str  # "", "*" or a top-level request field name
    response_body: str
    kind: Kind
    bound_fields: frozenset[str] = field(default=frozenset())

    @property
    def grpc_path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"


@dataclass(frozen=True)
class Match:
    route: Route
    bindings: dict[str, str]


def media_fields(message: Descriptor) -> tuple[FieldDescriptor, FieldDescriptor] | None:
    """(header message field, bytes field) when `message` is a oneof of exactly those two."""
    oneofs = message.oneofs
    if len(oneofs) != 1 or len(oneofs[0].fields) != 2 or len(message.fields) != 2:
        return None
    by_type = {f.type: f for f in oneofs[0].fields}
    header, data = by_type.get(FieldDescriptor.TYPE_MESSAGE), by_type.get(FieldDescriptor.TYPE_BYTES)
    return (header, data) if header and data else None


def _kind(method: MethodDescriptor) -> Kind:
    """Client streams map to HTTP only as media uploads; server streams as media downloads, or else as
    Server-Sent Events; any other annotated stream (bidirectional) stops the gateway at start-up."""
    if method.client_streaming and not method.server_streaming and media_fields(method.input_type):
        return Kind.UPLOAD
    if method.server_streaming and not method.client_streaming:
        if media_fields(method.output_type):
            return Kind.DOWNLOAD
        from gateway.sse import check_resumable

        check_resumable(method.full_name, method.input_type, method.output_type)
        return Kind.EVENTS
    if method.client_streaming or method.server_streaming:
        raise TemplateError(
            f"{method.full_name}: client streams have an HTTP mapping only as byte uploads (oneof {{header, bytes}})"
        )
    return Kind.UNARY


def _rules(rule: http_pb2.HttpRule) -> Iterator[http_pb2.HttpRule]:
    yield rule
    yield from rule.additional_bindings


def routes_for(contracts: dict[str, ServiceDescriptor]) -> list[Route]:
    routes = []
    for service, descriptor in contracts.items():
        for method in descriptor.methods:
            options = method.GetOptions()
            if not options.HasExtension(annotations_pb2.http):
                continue
            for rule in _rules(options.Extensions[annotations_pb2.http]):
                pattern = rule.WhichOneof("pattern")
                if pattern is None:
                    continue
                if pattern == "custom":
                    http_method, text = rule.custom.kind.upper(), rule.custom.path
                else:
                    http_method, text = pattern.upper(), getattr(rule, pattern)
                template = Template.parse(text)
                if rule.body not in ("", "*") and rule.body not in method.input_type.fields_by_name:
                    raise TemplateError(f"{method.full_name}: body {rule.body!r} is not a request field")
                bound = {variable.field_path for variable in template.variables}
                if rule.body not in ("", "*"):
                    bound.add(rule.body)
                routes.append(
                    Route(
                        http_method=http_method,
                        template=template,
                        service=service,
                        method=method,
                        body=rule.body,
                        response_body=rule.response_body,
                        kind=_kind(method),
                        bound_fields=frozenset(bound),
                    )
                )
    return routes


class Router:
    """Finds the route for (HTTP method, raw path); tells 'no such path' from 'wrong method'.

    Routes are tried most specific first. One whose first two segments are literals can only match a path that
    starts with them, so each is filed under (method, first, second) with the routes that start otherwise: a
    path is tried against its own few candidates, not every route of the API (that loop was ~5% of the
    gateway's CPU on a view)."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = sorted(routes, key=lambda r: r.template.specificity, reverse=True)
        self._anywhere: dict[str, list[Route]] = {}  # by method: routes that do not start with two literals
        prefixed: dict[tuple[str, str, str], list[Route]] = {}
        for route in self.routes:
            prefix = _literal_prefix(route.template)
            if prefix is None:
                self._anywhere.setdefault(route.http_method, []).append(route)
            else:
                prefixed.setdefault((route.http_method, *prefix), []).append(route)
        rank = {id(route): index for index, route in enumerate(self.routes)}
        self._candidates = {
            key: sorted([*routes, *self._anywhere.get(key[0], [])], key=lambda r: rank[id(r)])
            for key, routes in prefixed.items()
        }

    def match(self, http_method: str, path: str) -> Match | None:
        parts = (path[1:] if path.startswith("/") else path).split("/", 2)
        key = (http_method, unquote(parts[0]), unquote(parts[1])) if len(parts) > 1 else None
        candidates = self._candidates.get(key) if key else None  # type: ignore[arg-type]
        for route in self._anywhere.get(http_method, ()) if candidates is None else candidates:
            bindings = route.template.match(path)
            if bindings is not None:
                return Match(route, bindings)
        return None

    def allowed_methods(self, path: str) -> list[str]:
        return sorted({route.http_method for route in self.routes if route.template.match(path) is not None})


def _literal_prefix(template: Template) -> tuple[str, str] | None:
    """The first two segments when both are literals that a matching path must start with (not a verb's
    segment, which a path carries with its `:verb`)."""
    segments = template.segments
    if len(segments) < 2 or (len(segments) == 2 and template.verb is not None):
        return None
    if segments[0] in ("*", "**") or segments[1] in ("*", "**"):
        return None
    return segments[0], segments[1]
