"""Hostile input through the real gateway and mesh: every refusal precise, nothing internal in an
answer, nothing written, and no ERROR line in the gateway's log for what clients normally do."""

from __future__ import annotations

import io
import json
import os
import random
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg
from tests.support.rich_status import field_violations
from tests.support.users import sign_up
from tests.support.waiting import eventually

# What Python, protobuf or the gRPC library say when they fail: none of it may reach a client.
INTERNALS = re.compile(
    r"Error\b|Exception|Traceback|invalid literal|<class|object is not|Failed to parse|Couldn't"
    r"|ipv4:|ipv6:|127\.0\.0\.1"
)


def violations(response: httpx.Response) -> dict[str, str]:
    """The field violations of a 400 whose message gives nothing internal away."""
    assert not INTERNALS.search(response.json()["message"]), response.text
    return field_violations(response)


def form(boundary: str, fields: list[tuple[str, bytes]], file: bytes) -> bytes:
    """A multipart body written by hand, so its bytes can be anything."""
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
        for name, value in fields
    ]
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'.encode()
    return b"".join(parts) + head + file + f"\r\n--{boundary}--\r\n".encode()


async def list_photos(http: httpx.AsyncClient, user_id: int, headers: dict[str, str]) -> list[dict]:
    listed = await http.get(f"/v1/users/{user_id}/photos", headers=headers)
    assert listed.status_code == 200, listed.text
    return listed.json()["photos"]


async def upload(http: httpx.AsyncClient, user_id: int, headers: dict[str, str], image: bytes, **extra: str) -> dict:
    uploaded = await http.post(
        "/v1/photos",
        params={"userId": user_id, **extra},
        content=image,
        headers={**headers, "Content-Type": "image/jpeg"},
    )
    assert uploaded.status_code == 200, uploaded.text
    return uploaded.json()


# -- 1. text that is not UTF-8 -------------------------------------------------------------------


async def test_bytes_that_are_not_utf8_are_refused_by_field(http: httpx.AsyncClient, mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    user_id, headers = account.user_id, account.headers
    query = await http.get("/v1/search/photos?text=caf%E9", headers=headers)
    assert query.status_code == 400 and violations(query) == {"text": "is not valid UTF-8 text"}
    path = await http.get("/v1/usernames/caf%E9", headers=headers)
    assert path.status_code == 400 and violations(path) == {"username": "is not valid UTF-8 text"}

    boundary = "b0undary"
    body = form(boundary, [("userId", str(user_id).encode()), ("title", b"caf\xe9")], make_jpeg(16, 16))
    uploaded = await http.post(
        "/v1/photos", content=body, headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert uploaded.status_code == 400 and violations(uploaded) == {"metadata.title": "is not valid UTF-8 text"}
    assert await list_photos(http, user_id, headers) == []

    fine = await http.get("/v1/search/photos?text=caf%C3%A9", headers=headers)
    assert fine.status_code == 200, fine.text


# -- 2. loose integers ----------------------------------------------------------------------------


async def test_only_canonical_decimal_integers_name_a_resource(http: httpx.AsyncClient, mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    user_id, headers = account.user_id, account.headers
    photo_id = int((await upload(http, user_id, headers, make_jpeg(32, 32)))["photo"]["photoId"])
    assert (await http.get(f"/v1/photos/{photo_id}", headers=headers)).status_code == 200
    fullwidth = "".join(chr(0xFF10 + int(digit)) for digit in str(photo_id))
    for spelled in (f"{photo_id}.0", f"{photo_id + 1}.0", f"+{photo_id}", f"%20{photo_id}", f"%09{photo_id}",
                    f"{photo_id}%20", f"0{photo_id}", f"{photo_id:_}", fullwidth, f"{photo_id}e0"):  # fmt: skip
        response = await http.get(f"/v1/photos/{spelled}", headers=headers)
        assert response.status_code == 400, (spelled, response.text)
        assert set(violations(response)) == {"photo_id"}
    listed = await http.get(f"/v1/users/{user_id}/photos", params={"pageSize": "1e1"}, headers=headers)
    assert listed.status_code == 400 and set(violations(listed)) == {"page_size"}
    huge = await http.get(f"/v1/photos/{2**63}", headers=headers)
    assert huge.status_code == 400 and "9223372036854775807" in violations(huge)["photo_id"]

    as_form = await http.post(
        "/v1/photos", data={"userId": f"+{user_id}"}, files={"file": ("a.jpg", make_jpeg(8, 8))}, headers=headers
    )
    assert as_form.status_code == 400 and set(violations(as_form)) == {"metadata.user_id"}
    for followee in ("5.0", "1e3", '"1e3"', '" 5"', '"05"'):
        body = '{"followeeId": %s}' % followee  # noqa: UP031 - the JSON is the point
        follow = await http.post(f"/v1/users/{user_id}/following", content=body, headers=headers)
        assert follow.status_code == 400 and set(violations(follow)) == {"followee_id"}, (followee, follow.text)


# -- 3. no internals in errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [b"42", b"[]", b"null", b'{"username": 5}', b'{"username": "a", "password": {"x": 1}}', b'{"a": NaN}']
)
async def test_gateway_400s_are_plain_words(http: httpx.AsyncClient, body: bytes) -> None:
    response = await http.post("/v1/users", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["code"] == 3
    assert violations(response)


async def test_a_number_where_a_message_belongs_is_named(http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/users", content=b"42")
    assert violations(response) == {"body": "must be a JSON object"}
    path = await http.get("/v1/users/abc")
    assert violations(path) == {"user_id": "must be an integer in plain decimal digits, such as 42"}


async def test_an_oversized_authorization_header_is_431(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/users/1", headers={"Authorization": "Bearer " + "x" * 20_000})
    assert response.status_code == 431, response.text
    assert response.json()["code"] == 8 and not INTERNALS.search(response.text)


@pytest.fixture(scope="module")
async def lone_gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A gateway whose services are all unreachable (nothing listens on their ports)."""
    alone = Mesh(Path(tmp_path_factory.mktemp("lone-gateway")), services=())
    alone.start_gateway()
    try:
        await alone.wait_gateway()
        yield alone.gateway_url
    finally:
        alone.stop("gateway")


async def test_an_unreachable_service_is_503_without_its_address(lone_gateway: str, mesh: Mesh) -> None:
    token = (await sign_up(mesh, sign_in=False)).headers  # the lone gateway's services share the mesh's secret
    async with httpx.AsyncClient(base_url=lone_gateway, timeout=30) as client:
        response = await client.get("/v1/users/1", headers=token)
        assert response.status_code == 503, response.text
        assert response.json() == {"code": 14, "message": "the user service is unavailable, try again"}
        download = await client.get("/v1/photos/1/content", headers=token)
        assert download.status_code == 503 and download.json()["message"] == (
            "the photo service is unavailable, try again"
        )
        # Refused before any call: the answer is 431, not the 503 a call would get.
        oversized = await client.get("/v1/users/1", headers={"Authorization": "Bearer " + "x" * 20_000})
        assert oversized.status_code == 431, oversized.text


# -- 5. PATCH updates what it is given ------------------------------------------------------------


async def test_patch_without_update_mask_changes_only_the_fields_sent(http: httpx.AsyncClient, mesh: Mesh) -> None:
    alice = await sign_up(mesh, display_name="Alice", bio="old bio", sign_in=False)
    headers = alice.headers
    patched = await http.patch(f"/v1/users/{alice.user_id}", json={"bio": "x"}, headers=headers)
    assert patched.status_code == 200, patched.text
    assert (patched.json()["user"]["displayName"], patched.json()["user"]["bio"]) == ("Alice", "x")
    cleared = await http.patch(f"/v1/users/{alice.user_id}", json={"bio": ""}, headers=headers)
    assert (cleared.json()["user"]["displayName"], cleared.json()["user"]["bio"]) == ("Alice", "")
    nothing = await http.patch(f"/v1/users/{alice.user_id}", json={}, headers=headers)
    assert nothing.status_code == 400 and set(violations(nothing)) == {"update_mask"}
    stored = await http.get(f"/v1/users/{alice.user_id}", headers=headers)
    assert stored.json()["user"]["displayName"] == "Alice"


# -- 6. Grpc-Timeout ------------------------------------------------------------------------------


async def test_huge_grpc_timeouts_are_clamped_and_malformed_ones_named(http: httpx.AsyncClient, mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    user_id, headers = account.user_id, account.headers
    for huge in ("99999999H", "99999999M", "99999999S"):
        response = await http.get(f"/v1/users/{user_id}/photos", headers={**headers, "Grpc-Timeout": huge})
        assert response.status_code == 200, (huge, response.text)
    for malformed in ("1.5S", "30s", "123456789S", "\u00b2S", "-1S"):
        response = await http.get(
            f"/v1/users/{user_id}/photos", headers={**headers, "Grpc-Timeout": malformed.encode("latin-1")}
        )
        assert response.status_code == 400 and set(violations(response)) == {"grpc-timeout"}, malformed


# -- 7. the Idempotency-Key header ----------------------------------------------------------------


async def test_the_idempotency_key_header_makes_uploads_retry_safe(http: httpx.AsyncClient, mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    user_id, headers = account.user_id, account.headers
    image = make_jpeg(40, 30)
    key = {"Idempotency-Key": f"upload-{random.randrange(10**9)}"}
    first = await http.post(
        "/v1/photos", data={"userId": str(user_id)}, files={"file": ("a.jpg", image)}, headers={**headers, **key}
    )
    assert first.status_code == 200 and first.json()["created"] is True, first.text
    retried = await http.post(
        "/v1/photos",
        params={"userId": user_id},
        content=image,
        headers={**headers, **key, "Content-Type": "image/jpeg"},
    )
    assert retried.status_code == 200 and retried.json()["created"] is False, retried.text
    assert retried.json()["photo"]["photoId"] == first.json()["photo"]["photoId"]

    both = await http.post(
        "/v1/photos",
        data={"userId": str(user_id), "idempotencyKey": "other"},
        files={"file": ("a.jpg", image)},
        headers={**headers, **key},
    )
    assert both.status_code == 400 and set(violations(both)) == {"metadata.idempotency_key"}, both.text
    assert len(await list_photos(http, user_id, headers)) == 1


async def test_a_key_reused_for_a_different_upload_is_422(http: httpx.AsyncClient, mesh: Mesh) -> None:
    """The photo service refuses it with FAILED_PRECONDITION and a PreconditionFailure (IETF draft: 422)."""
    account = await sign_up(mesh, sign_in=False)
    user_id, headers = account.user_id, account.headers
    key = f"reused-{random.randrange(10**9)}"
    first = await upload(http, user_id, headers, make_jpeg(40, 30), title="first", idempotencyKey=key)
    other = await http.post(
        "/v1/photos",
        data={"userId": str(user_id), "title": "second"},
        files={"file": ("a.jpg", make_jpeg(40, 30))},
        headers={**headers, "Idempotency-Key": key},
    )
    assert other.status_code == 422, other.text
    body = other.json()
    assert body["code"] == 9 and not INTERNALS.search(body["message"])
    assert body["details"][0]["violations"][0]["subject"] == "metadata.idempotency_key"
    assert [p["photoId"] for p in await list_photos(http, user_id, headers)] == [first["photo"]["photoId"]]


# -- 15. forms: repeated tags, fields before the file --------------------------------------------


async def test_form_fields_tags_order_and_duplicates(http: httpx.AsyncClient, mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    user_id, headers = account.user_id, account.headers
    boundary = "f0rm"
    multipart = {**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    fields = [("userId", str(user_id).encode()), ("tags", b"a,b"), ("tags", b"c"), ("location", b"Lisbon"),
              ("timeStamp", b"2024-05-01T10:00:00Z")]  # fmt: skip
    uploaded = await http.post("/v1/photos", content=form(boundary, fields, make_jpeg(16, 16)), headers=multipart)
    assert uploaded.status_code == 200, uploaded.text
    photo = uploaded.json()["photo"]
    assert (photo["tags"], photo["location"], photo["timeStamp"]) == (["a,b", "c"], "Lisbon", "2024-05-01T10:00:00Z")

    twice = form(boundary, [("userId", str(user_id).encode()), ("title", b"a"), ("title", b"b")], make_jpeg(8, 8))
    response = await http.post("/v1/photos", content=twice, headers=multipart)
    assert response.status_code == 400 and set(violations(response)) == {"metadata.title"}, response.text
    after_file = f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nx\r\n--{boundary}--'
    late = form(boundary, [("userId", str(user_id).encode())], make_jpeg(8, 8)).replace(
        f"--{boundary}--".encode(), after_file.encode()
    )
    response = await http.post("/v1/photos", content=late, headers=multipart)
    assert violations(response) == {"title": "form fields must come before the file part"}
    assert [p["photoId"] for p in await list_photos(http, user_id, headers)] == [photo["photoId"]]


# -- 16. enum values by their short names --------------------------------------------------------


async def test_variants_by_short_name_number_or_full_name(http: httpx.AsyncClient, mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    user_id, headers = account.user_id, account.headers
    photo_id = (await upload(http, user_id, headers, make_jpeg(1600, 1200)))["photo"]["photoId"]
    answers = set()
    for spelled in ("display", "DISPLAY", "Display", "2", "PHOTO_VARIANT_DISPLAY", "photo_variant_display"):
        response = await http.get(f"/v1/photos/{photo_id}/content", params={"variant": spelled}, headers=headers)
        assert response.status_code == 200, (spelled, response.text)
        answers.add(response.headers["etag"])
    thumbnail = await http.get(f"/v1/photos/{photo_id}/content?variant=thumbnail", headers=headers)
    assert len(answers) == 1 and thumbnail.headers["etag"] not in answers
    unknown = await http.get(f"/v1/photos/{photo_id}/content?variant=sepia", headers=headers)
    assert unknown.status_code == 400 and "display" in violations(unknown)["variant"]


# -- 13. downloads a client walks away from -------------------------------------------------------


def noise_png(side: int) -> bytes:
    """An image PNG cannot compress: big enough that a download takes many chunks."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def log_lines_since(mesh: Mesh, name: str, offset: int) -> list[dict]:
    with open(mesh.logs / f"{name}.log", "rb") as log:
        log.seek(offset)
        lines = log.read().decode("utf-8", "replace").splitlines()
    return [json.loads(line) if line.startswith("{") else {"level": "raw", "msg": line} for line in lines]


async def test_cancelled_downloads_and_304s_log_no_error(http: httpx.AsyncClient, mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    user_id, headers = account.user_id, account.headers
    image = noise_png(1400)  # ~6 MB
    photo = (
        await http.post(
            "/v1/photos", params={"userId": user_id}, content=image, headers={**headers, "Content-Type": "image/png"}
        )
    ).json()["photo"]
    content = f"/v1/photos/{photo['photoId']}/content?variant=original"  # the owner; the default is DISPLAY
    offset = (mesh.logs / "gateway.log").stat().st_size

    for _ in range(5):
        async with http.stream("GET", content, headers=headers) as response:
            assert response.status_code == 200
            async for _chunk in response.aiter_raw(16 * 1024):
                break  # leaves with megabytes unread: the connection is closed under the gateway
    for _ in range(5):
        cached = await http.get(content, headers={**headers, "If-None-Match": f'"{photo["sha256"]}"'})
        assert cached.status_code == 304
    whole = await http.get(content, headers=headers)
    assert whole.status_code == 200 and whole.content == image  # the gateway still serves

    async def five_cancelled() -> list[dict]:  # the lines about the aborted streams come a moment after
        lines = log_lines_since(mesh, "gateway", offset)
        if [line for line in lines if line.get("level") != "info"]:  # fails at once, as on every try
            pytest.fail(f"a line above info: {lines}")
        cancelled = [line for line in lines if line.get("msg") == "download cancelled by the client"]
        assert len(cancelled) >= 5, lines
        return cancelled

    cancelled = await eventually(five_cancelled, timeout=10)
    assert len(cancelled) == 5, cancelled
    assert all(line["status"] == "CANCELLED" and line["sent"] < len(image) for line in cancelled)


async def test_every_request_has_an_access_line_with_its_route_status_and_request_id(
    http: httpx.AsyncClient, mesh: Mesh
) -> None:
    offset = (mesh.logs / "gateway.log").stat().st_size
    refused = await http.get("/v1/photos/12345/likes", headers={"X-Request-Id": "access-probe-1"})
    healthy = await http.get("/healthz", headers={"X-Request-Id": "access-probe-2"})
    assert refused.status_code == 401 and healthy.status_code == 200

    async def both() -> dict[str, dict]:
        lines = {line.get("request_id"): line for line in log_lines_since(mesh, "gateway", offset)}
        assert {"access-probe-1", "access-probe-2"} <= set(lines), lines
        return lines

    lines = await eventually(both, timeout=10)
    first, second = lines["access-probe-1"], lines["access-probe-2"]
    assert (first["msg"], first["logger"], first["method"], first["path"]) == (
        "http",
        "shutter.http",
        "GET",
        "/v1/photos/12345/likes",
    )
    assert first["status"] == 401 and first["route"] == "/v1/photos/{photo_id}/likes" and first["duration_ms"] > 0
    assert (second["status"], second["route"], second["sample_of"]) == (200, "/healthz", 1)
