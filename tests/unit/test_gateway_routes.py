"""Path templates (google/api/http.proto grammar) and the router built from the contracts."""

from __future__ import annotations

import re

import pytest
from google.api import annotations_pb2

from gateway.routes import Kind, Router, Template, TemplateError, routes_for
from services.runtime.topology import CONTRACTS

ROUTER = Router(routes_for(CONTRACTS))


def test_plain_variables_bind_one_decoded_segment() -> None:
    template = Template.parse("/v1/photos/{photo_id}/likes/{user_id}")
    assert template.match("/v1/photos/12/likes/34") == {"photo_id": "12", "user_id": "34"}
    assert template.match("/v1/photos/a%20b/likes/34") == {"photo_id": "a b", "user_id": "34"}
    assert template.match("/v1/photos/12/likes") is None
    assert template.match("/v1/photos//likes/34") is None
    assert template.match("/v1/photos/12/liked/34") is None


def test_variables_with_sub_patterns_and_double_wildcards() -> None:
    template = Template.parse("/v1/{name=shelves/*/books/*}")
    assert template.match("/v1/shelves/s1/books/b2") == {"name": "shelves/s1/books/b2"}
    assert template.match("/v1/shelves/s1/tomes/b2") is None
    rest = Template.parse("/v1/files/{path=**}")
    assert rest.match("/v1/files/a/b/c") == {"path": "a/b/c"}
    assert rest.match("/v1/files/a%2Fb/c") == {"path": "a%2Fb/c"}  # an escaped slash stays escaped


def test_nested_field_paths() -> None:
    assert Template.parse("/v1/{book.name}").match("/v1/x") == {"book.name": "x"}


def test_custom_verbs() -> None:
    template = Template.parse("/v1/users/{follower_id}/following:check")
    assert template.verb == "check"
    assert template.match("/v1/users/5/following:check") == {"follower_id": "5"}
    assert template.match("/v1/users/5/following%3Acheck") == {"follower_id": "5"}
    assert template.match("/v1/users/5/following") is None
    assert Template.parse("/v1/users:batchGet").match("/v1/users:batchGet") == {}


@pytest.mark.parametrize(
    "text", ["v1/users", "/v1/{user_id", "/v1/{a{b}}", "/v1/{bad-name}", "/v1/**/x", "/v1//x", "/v1/}"]
)
def test_malformed_templates_are_refused(text: str) -> None:
    with pytest.raises(TemplateError):
        Template.parse(text)


def test_every_annotated_rpc_has_a_route() -> None:
    annotated = {
        f"/{method.containing_service.full_name}/{method.name}"
        for service in CONTRACTS.values()
        for method in service.methods
        if method.GetOptions().HasExtension(annotations_pb2.http)
    }
    assert annotated
    assert {route.grpc_path for route in ROUTER.routes} == annotated


def test_verbs_win_over_variables_and_methods_are_told_apart() -> None:
    match = ROUTER.match("GET", "/v1/users/7/following:check")
    assert match is not None and match.route.method.name == "CheckFollowing"
    assert ROUTER.match("GET", "/v1/users:batchGet").route.method.name == "BatchGetUsers"  # type: ignore[union-attr]
    get = ROUTER.match("GET", "/v1/users/7/following")
    post = ROUTER.match("POST", "/v1/users/7/following")
    assert get is not None and get.route.method.name == "ListFollowees" and get.bindings == {"user_id": "7"}
    assert post is not None and post.route.method.name == "Follow" and post.bindings == {"follower_id": "7"}
    assert ROUTER.match("PUT", "/v1/users/7") is None
    assert ROUTER.allowed_methods("/v1/users/7") == ["DELETE", "GET", "PATCH"]
    assert ROUTER.allowed_methods("/v2/nothing") == []


def test_byte_streams_are_media_routes() -> None:
    kinds = {route.method.name: route.kind for route in ROUTER.routes}
    assert kinds["UploadPhoto"] is Kind.UPLOAD
    assert kinds["DownloadPhoto"] is Kind.DOWNLOAD
    assert kinds["GetPhoto"] is Kind.UNARY


def _contract(
    name: str,
    *,
    server_streaming: bool,
    client_streaming: bool = False,
    positioned: bool = False,
    resumable: bool = False,
) -> dict:
    """A contract the gateway has never seen, built at run time: one annotated RPC."""
    from google.protobuf import descriptor_pb2, descriptor_pool

    int64 = descriptor_pb2.FieldDescriptorProto.TYPE_INT64
    file = descriptor_pb2.FileDescriptorProto(
        name=f"{name}.proto", package=name, syntax="proto3", dependency=["google/api/annotations.proto"]
    )
    request = file.message_type.add(name="Req")
    request.field.add(name="thing_id", number=1, type=int64)
    if resumable:
        request.field.add(name="after_position", number=2, type=int64)
    response = file.message_type.add(name="Resp")
    if positioned:
        response.field.add(name="position", number=1, type=int64)
    method = file.service.add(name="ThingService").method.add(
        name="GetThing",
        input_type=f".{name}.Req",
        output_type=f".{name}.Resp",
        server_streaming=server_streaming,
        client_streaming=client_streaming,
    )
    method.options.Extensions[annotations_pb2.http].get = "/v9/things/{thing_id}"
    pool = descriptor_pool.Default()
    pool.Add(file)
    return {"thing": pool.FindServiceByName(f"{name}.ThingService")}


def test_a_newly_annotated_rpc_becomes_a_route_without_gateway_code() -> None:
    router = Router(routes_for(_contract("fresh", server_streaming=False)))
    match = router.match("GET", "/v9/things/5")
    assert match is not None and match.route.grpc_path == "/fresh.ThingService/GetThing"
    assert match.route.service == "thing" and match.bindings == {"thing_id": "5"}


def test_a_server_stream_that_carries_no_bytes_becomes_server_sent_events() -> None:
    [route] = routes_for(_contract("streamy", server_streaming=True, positioned=True, resumable=True))
    assert route.kind is Kind.EVENTS
    [plain] = routes_for(_contract("streamy_plain", server_streaming=True))  # no positions: nothing to resume
    assert plain.kind is Kind.EVENTS


def test_an_event_stream_with_positions_but_no_way_to_resume_is_refused_at_start_up() -> None:
    with pytest.raises(TemplateError, match="after_position"):
        routes_for(_contract("unresumable", server_streaming=True, positioned=True))


def test_client_streams_that_carry_no_bytes_are_refused_at_start_up() -> None:
    with pytest.raises(TemplateError, match="byte uploads"):
        routes_for(_contract("clienty", server_streaming=False, client_streaming=True))
    with pytest.raises(TemplateError, match="byte uploads"):
        routes_for(_contract("bidi", server_streaming=True, client_streaming=True))


def _first_match_in_order(http_method: str, path: str) -> tuple[object, dict[str, str]] | None:
    """The router's answer by definition: every route, most specific first."""
    for route in ROUTER.routes:
        if route.http_method == http_method and (bindings := route.template.match(path)) is not None:
            return route, bindings
    return None


def test_the_router_files_routes_by_their_literal_prefix_and_answers_as_trying_every_route() -> None:
    values = ["1", "me", "%41", "x%2Fy", "", ":search", "a:b", "photos", "%3Asearch"]
    paths = {"/", "", "/v1", "/v1/", "v1/photos/1", "/V1/photos/1", "/v%31/photos/1", "/v1/photo%73/1/view"}
    for route in ROUTER.routes:
        template = route.template.openapi_path()
        for value in values:
            path = re.sub(r"\{[^}]*\}", value, template)
            paths |= {path, path.replace(":", "%3A"), path + "/more", path.rsplit("/", 1)[0]}
    matched = 0
    for path in sorted(paths):
        for http_method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            found = ROUTER.match(http_method, path)
            assert (None if found is None else (found.route, found.bindings)) == _first_match_in_order(
                http_method, path
            ), (http_method, path)
            matched += found is not None
    assert matched > len(ROUTER.routes), matched  # most templates matched, not only misses compared
