"""Photos through HTTP: streamed uploads (form and raw), downloads with caching headers, limits."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator

import httpx
from PIL import Image

from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg, make_png
from tests.support.rich_status import field_violations
from tests.support.users import sign_up, sign_up_many

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # the default limit the mesh runs with (SHUTTER_MAX_UPLOAD_BYTES)

ORIGINAL = {"variant": "PHOTO_VARIANT_ORIGINAL"}  # the owner's bytes as uploaded; the default is DISPLAY


async def list_photos(http: httpx.AsyncClient, user_id: int, headers: dict[str, str]) -> list[dict]:
    listed = await http.get(f"/v1/users/{user_id}/photos", headers=headers)
    assert listed.status_code == 200, listed.text
    return listed.json()["photos"]


async def test_form_upload_then_download_with_cache_headers(http: httpx.AsyncClient, mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    user_id, headers = account.user_id, account.headers
    jpeg = make_jpeg(1600, 1200)
    uploaded = await http.post(
        "/v1/photos",
        data={"userId": str(user_id), "title": "beach", "tags": ["sea", "sun"], "timeStamp": "2024-05-01T10:00:00Z"},
        files={"file": ("beach.jpg", jpeg, "image/jpeg")},
        headers=headers,
    )
    assert uploaded.status_code == 200, uploaded.text
    photo = uploaded.json()["photo"]
    assert uploaded.json()["created"] is True
    assert photo["title"] == "beach" and photo["tags"] == ["sea", "sun"] and photo["userId"] == str(user_id)
    assert photo["timeStamp"] == "2024-05-01T10:00:00Z"
    assert photo["sha256"] == hashlib.sha256(jpeg).hexdigest() and photo["byteSize"] == str(len(jpeg))

    content = await http.get(f"/v1/photos/{photo['photoId']}/content", params=ORIGINAL, headers=headers)
    assert content.status_code == 200
    assert content.content == jpeg
    assert content.headers["content-type"] == "image/jpeg"
    assert content.headers["content-length"] == str(len(jpeg))
    assert content.headers["etag"] == f'"{photo["sha256"]}"'
    assert "immutable" in content.headers["cache-control"]

    cached = await http.get(
        f"/v1/photos/{photo['photoId']}/content",
        params=ORIGINAL,
        headers={**headers, "If-None-Match": content.headers["etag"]},
    )
    assert cached.status_code == 304 and cached.content == b""
    assert cached.headers["etag"] == content.headers["etag"]
    stale = await http.get(
        f"/v1/photos/{photo['photoId']}/content", params=ORIGINAL, headers={**headers, "If-None-Match": '"other"'}
    )
    assert stale.status_code == 200 and stale.content == jpeg

    thumbnail = await http.get(
        f"/v1/photos/{photo['photoId']}/content", params={"variant": "PHOTO_VARIANT_THUMBNAIL"}, headers=headers
    )
    assert thumbnail.status_code == 200, thumbnail.text
    assert max(Image.open(io.BytesIO(thumbnail.content)).size) <= 640
    assert thumbnail.headers["etag"] == f'"{hashlib.sha256(thumbnail.content).hexdigest()}"'
    assert thumbnail.headers["etag"] != content.headers["etag"]

    metadata = await http.get(f"/v1/photos/{photo['photoId']}", headers=headers)
    assert metadata.status_code == 200 and metadata.json()["photo"] == photo


async def test_raw_streamed_upload_with_metadata_in_the_query(http: httpx.AsyncClient, mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    user_id, headers = account.user_id, account.headers
    png = make_png(900, 700)

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: chunked transfer encoding
        for start in range(0, len(png), 10_000):
            yield png[start : start + 10_000]

    uploaded = await http.post(
        "/v1/photos",
        params={"userId": user_id, "title": "raw", "tags": ["a", "b"], "idempotencyKey": "raw-1"},
        content=chunked(),
        headers={**headers, "Content-Type": "image/png"},
    )
    assert uploaded.status_code == 200, uploaded.text
    photo = uploaded.json()["photo"]
    assert (photo["title"], photo["tags"], photo["contentType"]) == ("raw", ["a", "b"], "image/png")
    again = await http.post(  # a true retry: the same metadata and bytes under the same key
        "/v1/photos",
        params={"userId": user_id, "title": "raw", "tags": ["a", "b"], "idempotencyKey": "raw-1"},
        content=png,
        headers={**headers, "Content-Type": "image/png"},
    )
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["photo"]["photoId"] == photo["photoId"]
    downloaded = await http.get(f"/v1/photos/{photo['photoId']}/content", params=ORIGINAL, headers=headers)
    assert downloaded.content == png and downloaded.headers["content-type"] == "image/png"


async def test_the_owner_token_is_what_the_photo_service_checks(http: httpx.AsyncClient, mesh: Mesh) -> None:
    owner_account, stranger_account = await sign_up_many(mesh, 2)
    owner_id, owner, stranger = owner_account.user_id, owner_account.headers, stranger_account.headers
    jpeg = make_jpeg(200, 150)
    as_someone_else = await http.post(
        "/v1/photos", params={"userId": owner_id}, content=jpeg, headers={**stranger, "Content-Type": "image/jpeg"}
    )
    assert as_someone_else.status_code == 403, as_someone_else.text
    anonymous = await http.post("/v1/photos", params={"userId": owner_id}, content=jpeg)
    assert anonymous.status_code == 401
    assert await list_photos(http, owner_id, owner) == []

    uploaded = await http.post("/v1/photos", params={"userId": owner_id}, content=jpeg, headers=owner)
    photo_id = uploaded.json()["photo"]["photoId"]
    original = await http.get(f"/v1/photos/{photo_id}/content", params=ORIGINAL, headers=stranger)
    assert original.status_code == 403 and original.json()["code"] == 7
    display = await http.get(f"/v1/photos/{photo_id}/content?variant=PHOTO_VARIANT_DISPLAY", headers=stranger)
    assert display.status_code == 200 and display.headers["content-type"].startswith("image/")
    default = await http.get(f"/v1/photos/{photo_id}/content", headers=stranger)  # DISPLAY when unspecified
    assert default.status_code == 200 and default.content == display.content
    missing = await http.get("/v1/photos/123456789/content", headers=owner)
    assert missing.status_code == 404 and missing.json()["code"] == 5


async def test_oversized_uploads_are_413_and_store_nothing(http: httpx.AsyncClient, mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    user_id, headers = account.user_id, account.headers
    too_big = make_jpeg(64, 64) + bytes(MAX_UPLOAD_BYTES)

    declared = await http.post("/v1/photos", params={"userId": user_id}, content=too_big, headers=headers)
    assert declared.status_code == 413, declared.text
    assert declared.json()["code"] == 8 and str(MAX_UPLOAD_BYTES) in declared.json()["message"]

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(too_big), 1 << 20):
            yield too_big[start : start + (1 << 20)]

    streamed = await http.post("/v1/photos", params={"userId": user_id}, content=chunked(), headers=headers)
    assert streamed.status_code == 413, streamed.text

    form = await http.post(
        "/v1/photos", data={"userId": str(user_id)}, files={"file": ("big.jpg", too_big)}, headers=headers
    )
    assert form.status_code == 413, form.text
    assert await list_photos(http, user_id, headers) == []


async def test_malformed_forms_are_400(http: httpx.AsyncClient, mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    user_id, headers = account.user_id, account.headers
    boundary = "XyZ"
    late_field = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'.encode()
        + make_jpeg(32, 32)
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nlate\r\n--{boundary}--\r\n'.encode()
    )
    response = await http.post(
        "/v1/photos",
        params={"userId": user_id},
        content=late_field,
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 400
    assert list(field_violations(response)) == ["title"]

    no_file = await http.post("/v1/photos", data={"userId": str(user_id), "title": "x"}, files={}, headers=headers)
    assert no_file.status_code == 400, no_file.text
    unknown = await http.post(
        "/v1/photos", data={"userId": str(user_id), "colour": "red"}, files={"file": ("a", b"x")}, headers=headers
    )
    assert unknown.status_code == 400 and "colour" in unknown.json()["message"]
    # Fields are held until the file part, so their number is bounded.
    form = {"userId": str(user_id), "tags": ["t"] * 100}
    flooded = await http.post("/v1/photos", data=form, files={"file": ("a.jpg", make_jpeg(8, 8))}, headers=headers)
    assert flooded.status_code == 400 and "form fields" in flooded.json()["message"], flooded.text
    assert await list_photos(http, user_id, headers) == []
