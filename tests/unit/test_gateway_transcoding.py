"""HTTP parts → protobuf requests (path, query, body rules of http.proto) and protobuf → JSON."""

from __future__ import annotations

import dataclasses
import re

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, field_mask_pb2

from gateway.errors import GatewayError
from gateway.routes import Kind, Route, Router, Template, routes_for
from gateway.transcoding import build_request, query_items, to_json
from gateway.values import enum_spellings
from services.runtime.topology import CONTRACTS
from shutter.photo.v1 import photo_pb2
from shutter.search.v1 import search_pb2
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
    assert error.message == "body: is not valid JSON: Expecting value (line 1, column 14)"


@pytest.mark.parametrize(
    ("body", "field", "description"),
    [
        (b'{"username": 5}', "username", "must be a string"),
        (b'{"nope": "x"}', "nope", "no such field"),
        (b"[1, 2]", "body", "must be a JSON object"),
        (b'"text"', "body", "must be a JSON object"),
        (b"42", "body", "must be a JSON object"),
        (b"\xff\xfe", "body", "is not UTF-8 JSON"),
        (b'{"username": "a", "username": "b", "user_name": 1}', "user_name", "no such field"),
        (b'{"username": NaN}', "body", "is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "body", "is nested too deeply"),
    ],
    ids=["wrong-type", "unknown-field", "array", "string", "number", "not-utf8", "unknown-2", "nan", "deep"],
)
def test_bodies_that_are_not_the_message_are_refused(body: bytes, field: str, description: str) -> None:
    error = _invalid(lambda: build_request(route("CreateUser"), {}, [], body))
    assert error.violations == ((field, description),)


# What Python or protobuf say when they fail: none of it may reach a client.
INTERNALS = re.compile(r"Error\b|Exception|Traceback|invalid literal|<class|object is not|Failed to parse|Couldn't")


@pytest.mark.parametrize(
    "body",
    [
        b"42",
        b"null",
        b'{"displayName": ["a"]}',
        b'{"displayName": {"a": 1}}',
        b'{"userId": [1]}',
        b'{"userId": {}}',
        b'{"userId": "x"}',
        b'{"updateMask": 5}',
        b'{"updateMask": "a_b"}',
        b'{"bio": "\\ud800"}',
        b'{"bio": "x", "bio": 1.5}',
    ],
)
def test_gateway_400s_are_plain_words_naming_the_field(body: bytes) -> None:
    error = _invalid(lambda: build_request(route("UpdateUser"), {"user_id": "7"}, [], body))
    assert not INTERNALS.search(error.message), error.message
    assert error.violations[0][0] in {"body", "display_name", "user_id", "update_mask", "bio"}


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


# --- integers: canonical decimal only ------------------------------------------------------------

A = 2**60  # an id json_format's float fallback cannot tell from A + 1

LOOSE_INTEGERS = ["+5", "1_0", "\uff15", "\u0665", " 5", "5 ", "\t5", "5\n", "5.0", f"{A + 1}.0", "1e3", "05",
                  "-0", "0x5", "", "5,6", "--5", "five"]  # fmt: skip


@pytest.mark.parametrize("text", LOOSE_INTEGERS)
def test_loose_integers_in_paths_and_queries_are_refused(text: str) -> None:
    error = _invalid(lambda: build_request(route("GetUser"), {"user_id": text}, [], None))
    assert error.violations == (("user_id", "must be an integer in plain decimal digits, such as 42"),)
    error = _invalid(lambda: build_request(route("ListUserPhotos"), {"user_id": "1"}, [("pageSize", text)], None))
    assert error.violations[0][0] == "page_size"
    error = _invalid(lambda: build_request(route("BatchGetPhotos"), {}, [("photoIds", "1"), ("photoIds", text)], None))
    assert error.violations[0][0] == "photo_ids"


def test_canonical_integers_pass_at_full_precision() -> None:
    assert build_request(route("GetUser"), {"user_id": str(A + 1)}, [], None).user_id == A + 1
    assert build_request(route("GetUser"), {"user_id": str(2**63 - 1)}, [], None).user_id == 2**63 - 1
    assert build_request(route("GetUser"), {"user_id": "-5"}, [], None).user_id == -5  # signed: the service says no
    assert build_request(route("GetUser"), {"user_id": "0"}, [], None).user_id == 0


@pytest.mark.parametrize(
    ("name", "bindings", "query", "field", "text"),
    [
        ("GetUser", {"user_id": str(2**63)}, [], "user_id", "must be an integer from -9223372036854775808 to "
         "9223372036854775807"),
        ("GetUser", {"user_id": "9" * 5000}, [], "user_id", "must be an integer from -9223372036854775808 to "
         "9223372036854775807"),
        ("ListUserPhotos", {"user_id": "1"}, [("pageSize", str(2**31))], "page_size", "must be an integer from "
         "-2147483648 to 2147483647"),
    ],
)  # fmt: skip
def test_integers_out_of_the_fields_range_name_it(
    name: str, bindings: dict[str, str], query: list[tuple[str, str]], field: str, text: str
) -> None:
    assert _invalid(lambda: build_request(route(name), bindings, query, None)).violations == ((field, text),)


def test_json_bodies_take_int64_as_integer_numbers_or_canonical_strings() -> None:
    follow = route("Follow")
    for body in (b'{"followeeId": 5}', b'{"followeeId": "5"}', b'{"followee_id": 5}'):
        assert build_request(follow, {"follower_id": "1"}, [], body).followee_id == 5
    exact = build_request(follow, {"follower_id": "1"}, [], b'{"followeeId": "%d"}' % (A + 1))
    assert exact.followee_id == A + 1
    loose = [b"5.0", b"1e3", b'"1e3"', b'" 5"', b'"+5"', b'"05"', b'"5.0"', b"true", b'"\\uff15"', b"[5]",
             b"123456789012345678901234567890", b'"9223372036854775808"']  # fmt: skip
    for value in loose:
        body = b'{"followeeId": ' + value + b"}"
        error = _invalid(lambda body=body: build_request(follow, {"follower_id": "1"}, [], body))
        assert error.violations[0][0] == "followee_id", value


# --- text must be UTF-8 --------------------------------------------------------------------------


def test_bytes_that_are_not_utf8_are_refused_not_replaced() -> None:
    search = route("SearchPhotos")
    error = _invalid(lambda: build_request(search, {}, query_items(b"text=caf%E9"), None))
    assert error.violations == (("text", "is not valid UTF-8 text"),)
    error = _invalid(lambda: build_request(search, {}, query_items(b"text=caf\xe9"), None))  # raw, not escaped
    assert error.violations[0][0] == "text"
    assert build_request(search, {}, query_items(b"text=caf%C3%A9&location=caf\xc3\xa9+x"), None) == (
        search_pb2.SearchPhotosRequest(text="caf\u00e9", location="caf\u00e9 x")
    )
    matched = ROUTER.match("GET", "/v1/usernames/caf%E9")
    assert matched is not None and matched.route.method.name == "GetUserByUsername"
    error = _invalid(lambda: build_request(matched.route, matched.bindings, [], None))
    assert error.violations == (("username", "is not valid UTF-8 text"),)
    error = _invalid(lambda: build_request(route("CreateUser"), {}, [], b'{"username": "caf\\ud800"}'))
    assert error.violations == (("username", "is not valid UTF-8 text"),)


def test_an_undecodable_parameter_name_is_dropped_like_any_unknown_one() -> None:
    request = build_request(route("SearchPhotos"), {}, query_items(b"te%FFxt=a&text=b"), None)
    assert request.text == "b"


# --- enums: full name, short name, any case, number ----------------------------------------------


@pytest.mark.parametrize(
    "text", ["PHOTO_VARIANT_DISPLAY", "photo_variant_display", "display", "DISPLAY", "Display", "2"]
)
def test_enum_values_by_any_of_their_names(text: str) -> None:
    request = build_request(route("DownloadPhoto"), {"photo_id": "1"}, [("variant", text)], None)
    assert request.variant == photo_pb2.PHOTO_VARIANT_DISPLAY


@pytest.mark.parametrize("text", ["sepia", "5", "02", "+2", "d\u0130splay", "VARIANT_DISPLAY", "", " display"])
def test_unknown_enum_values_list_the_short_names(text: str) -> None:
    error = _invalid(lambda: build_request(route("DownloadPhoto"), {"photo_id": "1"}, [("variant", text)], None))
    assert error.violations[0][0] == "variant"
    assert "unspecified, original, display, thumbnail" in error.violations[0][1]


def test_enum_spellings_for_the_document() -> None:
    assert enum_spellings(photo_pb2.PhotoVariant.DESCRIPTOR) == [
        "PHOTO_VARIANT_UNSPECIFIED", "PHOTO_VARIANT_ORIGINAL", "PHOTO_VARIANT_DISPLAY", "PHOTO_VARIANT_THUMBNAIL",
        "unspecified", "original", "display", "thumbnail",
    ]  # fmt: skip


# --- PATCH without update_mask updates what the body sets (AIP-134) ------------------------------


def test_patch_without_a_mask_updates_only_the_fields_in_the_body() -> None:
    update = route("UpdateUser")
    assert update.http_method == "PATCH"
    request = build_request(update, {"user_id": "7"}, [], b'{"bio": "x"}')
    assert list(request.update_mask.paths) == ["bio"] and request.display_name == ""
    both = build_request(update, {"user_id": "7"}, [], b'{"displayName": "A", "bio": "", "userId": "7"}')
    assert list(both.update_mask.paths) == ["display_name", "bio"]  # the path's user_id is no update
    given = build_request(update, {"user_id": "7"}, [], b'{"bio": "x", "updateMask": "displayName"}')
    assert list(given.update_mask.paths) == ["display_name"]  # the client's own mask stands


@pytest.mark.parametrize("body", [b"", b"{}", b'{"userId": "7"}'])
def test_patch_that_sets_nothing_is_refused_rather_than_clearing_everything(body: bytes) -> None:
    error = _invalid(lambda: build_request(route("UpdateUser"), {"user_id": "7"}, [], body))
    assert error.violations[0][0] == "update_mask"


def _library_service() -> descriptor_pb2.FileDescriptorProto:
    """A resource with a nested message, updated AIP-134 style with `body: "book"`."""
    label = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="test_library.proto", package="test.library", dependency=["google/protobuf/field_mask.proto"]
    )
    author = file.message_type.add(name="Author")
    author.field.add(name="name", number=1, type=label.TYPE_STRING, label=label.LABEL_OPTIONAL)
    author.field.add(name="born_year", number=2, type=label.TYPE_INT32, label=label.LABEL_OPTIONAL)
    book = file.message_type.add(name="Book")
    book.field.add(name="book_id", number=1, type=label.TYPE_INT64, label=label.LABEL_OPTIONAL)
    book.field.add(name="title", number=2, type=label.TYPE_STRING, label=label.LABEL_OPTIONAL)
    book.field.add(name="author", number=3, type=label.TYPE_MESSAGE, type_name=".test.library.Author",
                   label=label.LABEL_OPTIONAL)  # fmt: skip
    book.field.add(name="tags", number=4, type=label.TYPE_STRING, label=label.LABEL_REPEATED)
    request = file.message_type.add(name="UpdateBookRequest")
    request.field.add(name="book", number=1, type=label.TYPE_MESSAGE, type_name=".test.library.Book",
                      label=label.LABEL_OPTIONAL)  # fmt: skip
    request.field.add(name="update_mask", number=2, type=label.TYPE_MESSAGE,
                      type_name=".google.protobuf.FieldMask", label=label.LABEL_OPTIONAL)  # fmt: skip
    service = file.service.add(name="Library")
    service.method.add(name="UpdateBook", input_type=".test.library.UpdateBookRequest",
                       output_type=".test.library.Book")  # fmt: skip
    return file


def test_the_implied_mask_is_generic_and_recurses_into_messages() -> None:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(field_mask_pb2.DESCRIPTOR.serialized_pb)
    pool.AddSerializedFile(_library_service().SerializeToString())
    method = pool.FindServiceByName("test.library.Library").methods_by_name["UpdateBook"]
    patch = Route("PATCH", Template.parse("/v1/books/{book.book_id}"), "library", method, "book", "", Kind.UNARY,
                  frozenset({"book.book_id", "book"}))  # fmt: skip
    body = b'{"bookId": "9", "title": "T", "author": {"bornYear": 1815}, "tags": ["a"]}'
    request = build_request(patch, {"book.book_id": "3"}, [], body)
    assert list(request.update_mask.paths) == ["title", "author.born_year", "tags"]
    assert request.book.book_id == 3  # the path names the book; its id is no update
    whole = build_request(patch, {"book.book_id": "3"}, [], b'{"author": {}}')
    assert list(whole.update_mask.paths) == ["author"]
    put = dataclasses.replace(patch, http_method="PUT")  # a PUT replaces: no mask is implied
    assert not build_request(put, {"book.book_id": "3"}, [], body).HasField("update_mask")
