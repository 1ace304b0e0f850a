"""HTTP parts → protobuf requests (path, query, body rules of http.proto) and protobuf → JSON."""

from __future__ import annotations

import dataclasses

import grpc
import pytest

from gateway.errors import GatewayError
from gateway.routes import Route, Router, routes_for
from gateway.transcoding import build_request, to_json
from services.runtime.topology import CONTRACTS
from shutter.photo.v1 import photo_pb2
from shutter.user.v1 import user_pb2

ROUTER = Router(routes_for(CONTRACTS))


def route(name: str) -> Route:
    return next(r for r in ROUTER.routes if r.method.name == name)


def test_path_and_query_fill_the_request() -> None:
    request = build_request(
        route("DownloadPhoto"), {"photo_id": "42"}, [("variant", "PHOTO_VARIANT_THUMBNAIL"), ("unknown", "x")], None
    )
    assert request == photo_pb2.DownloadPhotoRequest(photo_id=42, variant=photo_pb2.PHOTO_VARIANT_THUMBNAIL)
    by_number = build_request(route("DownloadPhoto"), {"photo_id": "42"}, [("variant", "2")], None)
    assert by_number.variant == photo_pb2.PHOTO_VARIANT_DISPLAY


def test_repeated_query_parameters_and_both_name_styles() -> None:
    request = build_request(
        route("BatchGetPhotos"), {}, [("photoIds", "1"), ("photo_ids", "2"), ("photoIds", "3")], None
    )
    assert list(request.photo_ids) == [1, 2, 3]


def test_query_cannot_override_the_path() -> None:
    request = build_request(route("ListUserPhotos"), {"user_id": "7"}, [("userId", "8"), ("pageSize", "5")], None)
    assert (request.user_id, request.page_size) == (7, 5)


def test_whole_body_with_path_variables_the_path_wins() -> None:
    body = b'{"userId": "9", "displayName": "Ada", "updateMask": "displayName,bio"}'
    request = build_request(route("UpdateUser"), {"user_id": "7"}, [("bio", "ignored")], body)
    assert request.user_id == 7 and request.display_name == "Ada" and request.bio == ""
    assert list(request.update_mask.paths) == ["display_name", "bio"]


def test_body_naming_one_field_leaves_the_rest_to_the_query() -> None:
    update = dataclasses.replace(
        route("UpdateUser"), body="update_mask", bound_fields=frozenset({"user_id", "update_mask"})
    )
    request = build_request(update, {"user_id": "7"}, [("bio", "hello"), ("updateMask", "x")], b'"bio"')
    assert request == user_pb2.UpdateUserRequest(user_id=7, bio="hello", update_mask={"paths": ["bio"]})


def _invalid(call) -> GatewayError:  # type: ignore[no-untyped-def]
    with pytest.raises(GatewayError) as caught:
        call()
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT and caught.value.http == 400
    return caught.value


def test_malformed_json_names_the_body_and_says_why() -> None:
    error = _invalid(lambda: build_request(route("CreateUser"), {}, [], b'{"username": '))
    assert error.violations[0][0] == "body"
    assert "Failed to load JSON" in error.message


@pytest.mark.parametrize(
    "body",
    [b'{"username": 5}', b'{"nope": "x"}', b"[1, 2]", b'"text"', b"\xff\xfe"],
    ids=["wrong-type", "unknown-field", "array", "string", "not-utf8"],
)
def test_bodies_that_are_not_the_message_are_refused(body: bytes) -> None:
    error = _invalid(lambda: build_request(route("CreateUser"), {}, [], body))
    assert error.violations[0][0] == "body"


def test_bad_path_and_query_values_name_their_field() -> None:
    assert (
        _invalid(lambda: build_request(route("GetPhoto"), {"photo_id": "abc"}, [], None)).violations[0][0] == "photo_id"
    )
    error = _invalid(lambda: build_request(route("ListUserPhotos"), {"user_id": "1"}, [("pageSize", "many")], None))
    assert error.violations[0][0] == "page_size"  # named as the services name fields
    error = _invalid(
        lambda: build_request(route("ListUserPhotos"), {"user_id": "1"}, [("pageSize", "1"), ("pageSize", "2")], None)
    )
    assert "not repeated" in error.message
    error = _invalid(lambda: build_request(route("DownloadPhoto"), {"photo_id": "1"}, [("variant", "SEPIA")], None))
    assert error.violations[0][0] == "variant"


def test_json_uses_camel_case_and_int64_strings_and_keeps_defaults() -> None:
    reply = photo_pb2.GetPhotoResponse(photo=photo_pb2.Photo(photo_id=2**62, user_id=5, tags=["a"], width=10))
    body = to_json(reply)
    assert body["photo"]["photoId"] == str(2**62) and body["photo"]["userId"] == "5"
    assert body["photo"]["width"] == 10 and body["photo"]["title"] == "" and body["photo"]["tags"] == ["a"]
    assert "createdAt" not in body["photo"]  # unset messages stay absent
