"""The OpenAPI document: generated from the annotations, valid, and faithful to json_format."""

from __future__ import annotations

import re

import schemathesis

from gateway.downloads import etag_matches
from gateway.openapi import document
from gateway.routes import routes_for
from services.runtime.topology import CONTRACTS

ROUTES = routes_for(CONTRACTS)
DOC = document(ROUTES)


def _operations() -> dict[str, dict]:
    return {op["operationId"]: op for item in DOC["paths"].values() for op in item.values()}


def test_every_route_is_an_operation_and_the_document_loads() -> None:
    assert len(_operations()) == len(ROUTES)
    schema = schemathesis.openapi.from_dict(DOC)
    assert len(list(schema.get_all_operations())) == len(ROUTES)


def test_schemas_follow_json_format() -> None:
    photo = DOC["components"]["schemas"]["shutter.photo.v1.Photo"]["properties"]
    assert photo["photoId"]["type"] == "string" and photo["photoId"]["format"] == "int64"
    assert photo["width"] == {"type": "integer", "format": "int32"}
    assert photo["tags"] == {"type": "array", "items": {"type": "string"}}
    assert photo["createdAt"] == {"type": "string", "format": "date-time"}
    download = _operations()["PhotoService_DownloadPhoto"]
    variant = next(p for p in download["parameters"] if p["name"] == "variant")
    assert variant["in"] == "query" and "PHOTO_VARIANT_THUMBNAIL" in variant["schema"]["enum"]


def test_parameters_body_and_security() -> None:
    ops = _operations()
    batch = ops["UserService_BatchGetUsers"]
    assert batch["parameters"] == [
        {"name": "userIds", "in": "query", "schema": {"type": "array", "items": DOC["components"]["schemas"]
            ["shutter.user.v1.User"]["properties"]["userId"]}},
        {"name": "usernames", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
    ]  # fmt: skip
    assert batch["security"] == [{"bearerAuth": []}]
    create = ops["UserService_CreateUser"]
    assert create["security"] == [] and "requestBody" in create
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("CreateUserRequest")
    assert ops["PhotoService_GetPhoto"]["parameters"][0] == {
        "name": "photo_id", "in": "path", "required": True, "schema": DOC["components"]["schemas"]
        ["shutter.photo.v1.Photo"]["properties"]["photoId"],
    }  # fmt: skip


def test_same_shaped_paths_share_one_openapi_path() -> None:
    """GET …/{user_id}/following and POST …/{follower_id}/following are one OpenAPI path."""
    shaped = [path for path in DOC["paths"] if path.startswith("/v1/users/{") and path.endswith("}/following")]
    assert len(shaped) == 1
    item = DOC["paths"][shaped[0]]
    assert set(item) == {"get", "post"}
    assert item["get"]["parameters"][0]["name"] == item["post"]["parameters"][0]["name"] in shaped[0]


def test_media_operations() -> None:
    ops = _operations()
    upload = ops["PhotoService_UploadPhoto"]["requestBody"]["content"]
    assert upload["multipart/form-data"]["schema"]["required"] == ["file"]
    assert {"title", "tags", "file"} <= set(upload["multipart/form-data"]["schema"]["properties"])
    assert "application/octet-stream" in upload
    download = ops["PhotoService_DownloadPhoto"]["responses"]
    assert set(download) == {"200", "304", "307", "default"} and "image/*" in download["200"]["content"]
    assert "Location" in download["307"]["headers"]  # accept_url: a signed URL instead of the bytes


def test_etag_matching_is_weak_and_takes_lists() -> None:
    tag = '"abc"'
    assert etag_matches('"abc"', tag)
    assert etag_matches('W/"abc"', tag)
    assert etag_matches('"x", "abc"', tag)
    assert etag_matches("*", tag)
    assert not etag_matches('"abcd"', tag)
    assert not etag_matches(None, tag)


def test_the_document_says_what_the_gateway_accepts() -> None:
    ops = _operations()
    variant = next(p for p in ops["PhotoService_DownloadPhoto"]["parameters"] if p["name"] == "variant")
    assert {"display", "thumbnail", "PHOTO_VARIANT_DISPLAY"} <= set(variant["schema"]["enum"])
    pattern = re.compile(DOC["components"]["schemas"]["shutter.photo.v1.Photo"]["properties"]["photoId"]["pattern"])
    assert all(pattern.search(text) for text in ("0", "5", "-5", "123456789012345678"))
    assert not any(pattern.search(text) for text in ("05", "-0", "+5", "5.0", "1e3", " 5", "1234567890123456789"))
    upload = ops["PhotoService_UploadPhoto"]["parameters"]
    key = next(p for p in upload if p["in"] == "header")
    assert key["name"] == "Idempotency-Key" and not key["required"]
    assert not any(p["in"] == "header" for p in ops["PhotoService_GetPhoto"]["parameters"])
