"""PhotoService over real gRPC on the shared mesh: uploads, validation, reads, downloads, deletes."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator

import grpc
import pytest
from PIL import Image

from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from tests.support.mesh import Mesh, auth
from tests.support.photos import (
    download,
    gps_exif,
    make_gif,
    make_jpeg,
    make_png,
    make_webp,
    metadata,
    requests,
    sha256,
    upload,
    upload_response,
)
from tests.support.rich_status import field_violations, precondition_violations
from tests.support.users import sign_up, sign_up_many, user_without_account

ORIGINAL = photo_pb2.PHOTO_VARIANT_ORIGINAL
DISPLAY = photo_pb2.PHOTO_VARIANT_DISPLAY
THUMBNAIL = photo_pb2.PHOTO_VARIANT_THUMBNAIL


def stub(mesh: Mesh) -> photo_pb2_grpc.PhotoServiceStub:
    return photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo"))


async def raw_upload(
    mesh: Mesh, token: str, stream: AsyncIterator[photo_pb2.UploadPhotoRequest]
) -> photo_pb2.UploadPhotoResponse:
    return await stub(mesh).UploadPhoto(stream, metadata=auth(token), timeout=30)


# Lists are public: read them as a bystander, whose token stays valid even after the owner is deleted. No
# account: test_photo_durability lists on a mesh that has no user service.
OBSERVER_ID = 424242


async def user_photo_ids(mesh: Mesh, user_id: int) -> list[int]:
    reply = await stub(mesh).ListUserPhotos(
        photo_pb2.ListUserPhotosRequest(user_id=user_id, page_size=100),
        metadata=user_without_account(mesh, OBSERVER_ID).metadata,
    )
    return [p.photo_id for p in reply.photos]


@pytest.mark.parametrize(
    ("make", "content_type"),
    [(make_jpeg, "image/jpeg"), (make_png, "image/png"), (make_webp, "image/webp"), (make_gif, "image/gif")],
)
async def test_upload_each_format_then_get_and_download_it(mesh: Mesh, make, content_type: str) -> None:  # type: ignore[no-untyped-def]
    account = await sign_up(mesh, sign_in=False)
    user, token = account.user_id, account.token
    data = make(320, 240)
    response = await upload_response(mesh, token, user, data, title="sunset", tags=["sky", "sea"], location="Brest")
    photo = response.photo
    assert response.created
    assert photo.photo_id > 0 and photo.user_id == user
    assert (photo.title, list(photo.tags), photo.location) == ("sunset", ["sky", "sea"], "Brest")
    assert (photo.width, photo.height, photo.content_type) == (320, 240, content_type)
    assert (photo.byte_size, photo.sha256) == (len(data), sha256(data))
    assert photo.created_at.seconds > 0 and photo.time_stamp.seconds > 0

    fetched = await stub(mesh).GetPhoto(photo_pb2.GetPhotoRequest(photo_id=photo.photo_id), metadata=auth(token))
    assert fetched.photo == photo
    info, body = await download(mesh, token, photo.photo_id)
    assert body == data
    assert (info.sha256, info.byte_size, info.content_type, info.variant) == (
        photo.sha256,
        len(data),
        content_type,
        ORIGINAL,
    )


async def test_variants_download_with_matching_checksums(mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    user, token = account.user_id, account.token
    photo = await upload(mesh, token, user, make_jpeg(2000, 1000))
    for variant, longest in ((DISPLAY, 1080), (THUMBNAIL, 640)):
        info, body = await download(mesh, token, photo.photo_id, variant)
        assert info.variant == variant and info.content_type == "image/jpeg"
        assert (sha256(body), len(body)) == (info.sha256, info.byte_size)
        with Image.open(io.BytesIO(body)) as image:
            assert max(image.size) == longest


async def test_display_variant_is_oriented_and_has_no_gps(mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    user, token = account.user_id, account.token
    original = make_jpeg(1600, 800, exif=gps_exif(orientation=6))
    photo = await upload(mesh, token, user, original)
    assert (photo.width, photo.height) == (800, 1600)  # as displayed
    _, body = await download(mesh, token, photo.photo_id, DISPLAY)
    with Image.open(io.BytesIO(body)) as display:
        assert display.size == (540, 1080)
        exif = display.getexif()
        assert not exif.get_ifd(0x8825), "GPS survived"
        assert 0x0112 not in exif, "orientation tag survived (it would rotate twice)"
    _, kept = await download(mesh, token, photo.photo_id, ORIGINAL)
    assert kept == original  # the owner's original is untouched


async def test_only_the_owner_downloads_the_original(mesh: Mesh) -> None:
    owner, other = await sign_up_many(mesh, 2)
    photo = await upload(mesh, owner.token, owner.user_id, make_jpeg(100, 100))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await download(mesh, other.token, photo.photo_id, ORIGINAL)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    info, _ = await download(mesh, other.token, photo.photo_id, DISPLAY)
    assert info.variant == DISPLAY


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.4 this is a document renamed to holiday.jpg" * 20,
        make_jpeg(400, 300)[:2000],
        bytes(reversed(make_png(100, 100))),
    ],
    ids=["non-image-renamed-jpg", "truncated-jpeg", "corrupt-png"],
)
async def test_bytes_that_do_not_decode_are_refused_and_nothing_is_stored(mesh: Mesh, data: bytes) -> None:
    account = await sign_up(mesh, sign_in=False)
    user = account.user_id
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await upload(mesh, account.token, user, data, title="fake")
    assert list(field_violations(caught.value)) == ["chunk"]
    assert "JPEG, PNG, WebP, GIF" in (caught.value.details() or "")
    assert await user_photo_ids(mesh, user) == []


async def test_malformed_streams_are_refused(mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    user, token = account.user_id, account.token

    async def nothing() -> AsyncIterator[photo_pb2.UploadPhotoRequest]:
        return
        yield  # pragma: no cover - makes this an async generator

    async def metadata_twice() -> AsyncIterator[photo_pb2.UploadPhotoRequest]:
        async for message in requests(metadata(user), make_jpeg(50, 50)):
            yield message
        yield photo_pb2.UploadPhotoRequest(metadata=metadata(user))

    cases = {
        "empty stream": (nothing(), ["metadata"]),
        "bytes before metadata": (requests(None, make_jpeg(50, 50)), ["metadata"]),
        "metadata without bytes": (requests(metadata(user), b""), ["chunk"]),
        "metadata after bytes": (metadata_twice(), ["metadata"]),
    }
    for name, (stream, fields) in cases.items():
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await raw_upload(mesh, token, stream)
        assert list(field_violations(caught.value)) == fields, name
    assert await user_photo_ids(mesh, user) == []


async def test_metadata_limits_name_the_fields(mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    user, token = account.user_id, account.token
    tags = ["ok", "ok", "ok", "x" * 101]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await upload(mesh, token, user, make_jpeg(50, 50), title="t" * 301, tags=tags)
    assert list(field_violations(caught.value)) == ["metadata.title", "metadata.tags[3]"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await upload(mesh, token, user, make_jpeg(50, 50), tags=["t"] * 31, location="l" * 201)
    assert list(field_violations(caught.value)) == ["metadata.location", "metadata.tags"]
    assert await user_photo_ids(mesh, user) == []


async def test_uploading_as_someone_else_or_anonymously_is_refused(mesh: Mesh) -> None:
    user, victim = await sign_up_many(mesh, 2)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await upload(mesh, user.token, victim.user_id, make_jpeg(50, 50))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub(mesh).UploadPhoto(requests(metadata(user.user_id), make_jpeg(50, 50)), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert await user_photo_ids(mesh, victim.user_id) == []


async def test_retry_with_the_same_idempotency_key_returns_the_first_photo(mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    user, token = account.user_id, account.token
    noise = io.BytesIO()
    Image.frombytes("RGB", (400, 300), os.urandom(400 * 300 * 3)).save(noise, format="PNG")
    data = noise.getvalue()  # several chunks: the retry's stream is read to its end before the answer
    assert len(data) > 4 * 64 * 1024
    first = await upload_response(mesh, token, user, data, idempotency_key="upload-1")
    for _ in range(3):
        retry = await upload_response(mesh, token, user, data, idempotency_key="upload-1")
        assert not retry.created and retry.photo == first.photo
    assert first.created
    other = await upload_response(mesh, token, user, make_jpeg(80, 60), idempotency_key="upload-2")
    assert other.created and other.photo.photo_id != first.photo.photo_id
    # Another user's identical key is their own.
    stranger = await sign_up(mesh, sign_in=False)
    theirs = await upload_response(mesh, stranger.token, stranger.user_id, make_jpeg(8, 6), idempotency_key="upload-1")
    assert theirs.created and theirs.photo.photo_id != first.photo.photo_id
    assert sorted(await user_photo_ids(mesh, user)) == sorted([first.photo.photo_id, other.photo.photo_id])


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param({"title": "another title"}, id="title"),
        pytest.param({"location": "elsewhere"}, id="location"),
        pytest.param({"tags": ["sea", "sky"]}, id="tags"),
        pytest.param({"data": make_jpeg(41, 30)}, id="bytes"),
    ],
)
async def test_a_used_idempotency_key_with_a_different_request_is_refused(mesh: Mesh, changed: dict) -> None:  # type: ignore[type-arg]
    account = await sign_up(mesh, sign_in=False)
    user, token = account.user_id, account.token
    request = {"data": make_jpeg(40, 30), "title": "harbour", "location": "Oslo", "tags": ["sea"]}
    first = await upload_response(mesh, token, user, idempotency_key="k", **request)  # type: ignore[arg-type]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await upload_response(mesh, token, user, idempotency_key="k", **{**request, **changed})  # type: ignore[arg-type]

    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION, caught.value.details()
    assert precondition_violations(caught.value) == [("IDEMPOTENCY_KEY_REUSED", "metadata.idempotency_key")]
    assert await user_photo_ids(mesh, user) == [first.photo.photo_id]
    retry = await upload_response(mesh, token, user, idempotency_key="k", **request)  # type: ignore[arg-type]
    assert (retry.created, retry.photo) == (False, first.photo)


async def test_delete_is_for_the_owner_only(mesh: Mesh) -> None:
    owner, other = await sign_up_many(mesh, 2)
    photo = await upload(mesh, owner.token, owner.user_id, make_jpeg(60, 60))
    request = photo_pb2.DeletePhotoRequest(photo_id=photo.photo_id)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub(mesh).DeletePhoto(request, metadata=other.metadata)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await user_photo_ids(mesh, owner.user_id) == [photo.photo_id]

    await stub(mesh).DeletePhoto(request, metadata=owner.metadata)
    for call in (
        stub(mesh).DeletePhoto(request, metadata=owner.metadata),
        stub(mesh).GetPhoto(photo_pb2.GetPhotoRequest(photo_id=photo.photo_id), metadata=owner.metadata),
        download(mesh, owner.token, photo.photo_id, DISPLAY),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert await user_photo_ids(mesh, owner.user_id) == []


async def test_reads_validate_ids(mesh: Mesh) -> None:
    token = (await sign_up(mesh, sign_in=False)).token
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub(mesh).GetPhoto(photo_pb2.GetPhotoRequest(photo_id=0), metadata=auth(token))
    assert list(field_violations(caught.value)) == ["photo_id"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub(mesh).BatchGetPhotos(photo_pb2.BatchGetPhotosRequest(photo_ids=[1, 0]), metadata=auth(token))
    assert list(field_violations(caught.value)) == ["photo_ids[1]"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub(mesh).BatchGetPhotos(photo_pb2.BatchGetPhotosRequest(photo_ids=range(1, 102)), metadata=auth(token))
    assert list(field_violations(caught.value)) == ["photo_ids"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await download(mesh, token, 1, variant=99)
    assert list(field_violations(caught.value)) == ["variant"]


async def test_batch_get_keeps_request_order_and_leaves_out_missing(mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    user, token = account.user_id, account.token
    a, b, c = [await upload(mesh, token, user, make_jpeg(30 + i, 30)) for i in range(3)]
    await stub(mesh).DeletePhoto(photo_pb2.DeletePhotoRequest(photo_id=b.photo_id), metadata=auth(token))
    reply = await stub(mesh).BatchGetPhotos(
        photo_pb2.BatchGetPhotosRequest(photo_ids=[c.photo_id, 424242, b.photo_id, a.photo_id, c.photo_id]),
        metadata=(await sign_up(mesh, sign_in=False)).metadata,
    )
    assert list(reply.photos) == [c, a]


async def test_list_user_photos_pages_newest_first(mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    user, token = account.user_id, account.token
    uploaded = [await upload(mesh, token, user, make_png(20, 20 + i)) for i in range(5)]
    seen: list[int] = []
    page_token = ""
    pages = 0
    while True:
        reply = await stub(mesh).ListUserPhotos(
            photo_pb2.ListUserPhotosRequest(user_id=user, page_size=2, page_token=page_token), metadata=auth(token)
        )
        seen.extend(p.photo_id for p in reply.photos)
        pages += 1
        if not reply.next_page_token:
            break
        page_token = reply.next_page_token
    assert pages == 3
    assert seen == [p.photo_id for p in reversed(uploaded)]

    first = await stub(mesh).ListUserPhotos(
        photo_pb2.ListUserPhotosRequest(user_id=user, page_size=2), metadata=auth(token)
    )
    for bad in (first.next_page_token, "garbage!"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub(mesh).ListUserPhotos(
                photo_pb2.ListUserPhotosRequest(user_id=user + 1, page_token=bad), metadata=auth(token)
            )
        assert list(field_violations(caught.value)) == ["page_token"]
