"""Albums over real gRPC on the shared mesh: media uploaded first, a post made from them (all or nothing),
alt text per image, each image downloadable, the bad inputs each named, and the one-call upload unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from tests.support.mesh import Mesh, auth
from tests.support.photos import download, make_jpeg, make_png, metadata, requests, sha256, upload_response
from tests.support.rich_status import field_violations, precondition_violations
from tests.support.users import SignedUp, sign_up

ORIGINAL = photo_pb2.PHOTO_VARIANT_ORIGINAL


def stub(mesh: Mesh) -> photo_pb2_grpc.PhotoServiceStub:
    return photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo"))


async def media_requests(meta: photo_pb2.MediaMetadata, data: bytes) -> AsyncIterator[photo_pb2.UploadMediaRequest]:
    yield photo_pb2.UploadMediaRequest(metadata=meta)
    for start in range(0, len(data), 64 * 1024):
        yield photo_pb2.UploadMediaRequest(chunk=data[start : start + 64 * 1024])


async def upload_media(
    mesh: Mesh, account: SignedUp, data: bytes, *, alt_text: str = "", key: str = ""
) -> photo_pb2.UploadMediaResponse:
    meta = photo_pb2.MediaMetadata(alt_text=alt_text, idempotency_key=key)
    return await stub(mesh).UploadMedia(media_requests(meta, data), metadata=auth(account.token), timeout=30)


async def create_post(
    mesh: Mesh, account: SignedUp, images: list[tuple[int, str]], *, title: str = "", key: str = ""
) -> photo_pb2.CreatePostResponse:
    request = photo_pb2.CreatePostRequest(
        metadata=photo_pb2.PhotoMetadata(title=title, idempotency_key=key),
        images=[photo_pb2.PostImage(media_id=media_id, alt_text=alt) for media_id, alt in images],
    )
    return await stub(mesh).CreatePost(request, metadata=auth(account.token), timeout=30)


async def download_image(mesh: Mesh, token: str, photo_id: int, media_id: int) -> bytes:
    body = bytearray()
    request = photo_pb2.DownloadPhotoRequest(photo_id=photo_id, media_id=media_id, variant=ORIGINAL)
    async for message in stub(mesh).DownloadPhoto(request, metadata=auth(token), timeout=30):
        if message.WhichOneof("payload") == "chunk":
            body += message.chunk
    return bytes(body)


async def test_an_album_keeps_its_images_in_order_each_with_alt_text_and_bytes(mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    pictures = [make_jpeg(320, 240), make_png(100, 200), make_jpeg(64, 64)]
    uploaded = [await upload_media(mesh, account, data, alt_text=f"picture {n}") for n, data in enumerate(pictures)]
    assert all(u.created and u.expires_at.seconds > 0 for u in uploaded)
    assert (uploaded[1].media.width, uploaded[1].media.height, uploaded[1].media.content_type) == (
        100,
        200,
        "image/png",
    )
    order = [uploaded[2], uploaded[0], uploaded[1]]

    post = (
        await create_post(
            mesh, account, [(u.media.media_id, "") for u in order[:2]] + [(order[2].media.media_id, "new")]
        )
    ).photo

    assert [i.media_id for i in post.images] == [u.media.media_id for u in order]
    assert [i.alt_text for i in post.images] == ["picture 2", "picture 0", "new"]  # the upload's unless replaced
    assert all(len(i.blurhash) == 28 and len(i.dominant_color) == 7 for i in post.images)  # placeholders
    assert (post.width, post.height, post.sha256) == (64, 64, sha256(pictures[2]))  # the first image, as before
    assert post.user_id == account.user_id and post.photo_id not in {u.media.media_id for u in order}
    fetched = await stub(mesh).GetPhoto(photo_pb2.GetPhotoRequest(photo_id=post.photo_id), metadata=auth(account.token))
    assert fetched.photo == post
    batch = await stub(mesh).BatchGetPhotos(
        photo_pb2.BatchGetPhotosRequest(photo_ids=[post.photo_id]), metadata=auth(account.token)
    )
    assert list(batch.photos) == [post]
    for image, data in zip(order, [pictures[2], pictures[0], pictures[1]], strict=True):
        assert await download_image(mesh, account.token, post.photo_id, image.media.media_id) == data
    _, first = await download(mesh, account.token, post.photo_id, ORIGINAL)
    assert first == pictures[2]  # no media_id: the first image, as a one-photo client expects


async def test_the_one_call_upload_is_a_one_image_post_with_alt_text(mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    data = make_jpeg(200, 100)
    meta = metadata(account.user_id, title="one")
    meta.alt_text = "a field at dusk"

    photo = (await stub(mesh).UploadPhoto(requests(meta, data), metadata=auth(account.token), timeout=30)).photo

    assert [(i.media_id, i.alt_text, i.sha256, i.width) for i in photo.images] == [
        (photo.photo_id, "a field at dusk", sha256(data), 200)
    ]
    assert await download_image(mesh, account.token, photo.photo_id, photo.photo_id) == data
    plain = (await upload_response(mesh, account.token, account.user_id, data)).photo  # an old client's upload
    assert [(i.media_id, i.alt_text) for i in plain.images] == [(plain.photo_id, "")]


async def test_bad_albums_are_refused_naming_the_field_and_nothing_is_posted(mesh: Mesh) -> None:
    account, other = await sign_up(mesh, sign_in=False), await sign_up(mesh, sign_in=False)
    mine = [(await upload_media(mesh, account, make_jpeg(16, 16))).media.media_id for _ in range(2)]
    theirs = (await upload_media(mesh, other, make_jpeg(16, 16))).media.media_id
    cases = [
        ([(mine[0], "")] * 11, "images"),
        ([], "images"),
        ([(mine[0], "x" * 1501)], "images[0].alt_text"),
        ([(mine[0], "bell \x07")], "images[0].alt_text"),
        ([(mine[0], ""), (mine[0], "")], "images[1].media_id"),
        ([(mine[0], ""), (-3, "")], "images[1].media_id"),
        ([(mine[0], ""), (theirs, "")], "images[1].media_id"),  # another user's: as if unknown
        ([(mine[1], ""), (987654321, "")], "images[1].media_id"),
    ]
    for images, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await create_post(mesh, account, images)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (field, caught.value.details())
        assert field in field_violations(caught.value), (field, field_violations(caught.value))

    posted = await stub(mesh).ListUserPhotos(
        photo_pb2.ListUserPhotosRequest(user_id=account.user_id), metadata=auth(account.token)
    )
    assert list(posted.photos) == []
    post = (await create_post(mesh, account, [(mine[1], ""), (mine[0], "")])).photo  # the media were never taken
    assert [i.media_id for i in post.images] == [mine[1], mine[0]]


async def test_a_medium_in_a_post_cannot_join_another(mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    media_id = (await upload_media(mesh, account, make_jpeg(16, 16))).media.media_id
    await create_post(mesh, account, [(media_id, "")])

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await create_post(mesh, account, [(media_id, "")])

    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert precondition_violations(caught.value) == [("MEDIA_IN_A_POST", "images[0].media_id")]


async def test_media_and_posts_are_idempotent_by_key(mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    data = make_jpeg(40, 30)
    first = await upload_media(mesh, account, data, key="m-1")
    again = await upload_media(mesh, account, data, key="m-1")
    assert (again.created, again.media) == (False, first.media)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await upload_media(mesh, account, make_jpeg(41, 30), key="m-1")
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    post = await create_post(mesh, account, [(first.media.media_id, "")], title="t", key="p-1")
    retry = await create_post(mesh, account, [(first.media.media_id, "")], title="t", key="p-1")
    assert (post.created, retry.created, retry.photo) == (True, False, post.photo)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await create_post(mesh, account, [(first.media.media_id, "")], title="other", key="p-1")
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_bad_media_uploads_are_refused_naming_the_field(mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    for alt_text, field in (("y" * 1501, "metadata.alt_text"), ("escape \x1b[31m", "metadata.alt_text")):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await upload_media(mesh, account, make_jpeg(16, 16), alt_text=alt_text)
        assert field in field_violations(caught.value)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await upload_media(mesh, account, b"not an image")
    assert "chunk" in field_violations(caught.value)
    meta = metadata(account.user_id)
    meta.alt_text = "z" * 1501
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub(mesh).UploadPhoto(requests(meta, make_jpeg(8, 8)), metadata=auth(account.token), timeout=30)
    assert "metadata.alt_text" in field_violations(caught.value)


async def test_deleting_an_album_deletes_every_image(mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    media = [(await upload_media(mesh, account, make_jpeg(20 + n, 20))).media.media_id for n in range(2)]
    post = (await create_post(mesh, account, [(m, "") for m in media])).photo
    await stub(mesh).DeletePhoto(photo_pb2.DeletePhotoRequest(photo_id=post.photo_id), metadata=auth(account.token))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await download_image(mesh, account.token, post.photo_id, media[1])
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:  # its media went with it: they cannot be posted again
        await create_post(mesh, account, [(media[0], "")])
    assert "images[0].media_id" in field_violations(caught.value)


async def test_an_image_the_post_does_not_have_is_not_found(mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    photo = (await upload_response(mesh, account.token, account.user_id, make_jpeg(8, 8))).photo
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await download_image(mesh, account.token, photo.photo_id, photo.photo_id + 1)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_profile_lists_its_post_count_on_the_first_page(mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    for _ in range(3):
        await upload_response(mesh, account.token, account.user_id, make_jpeg(8, 8))
    media_id = (await upload_media(mesh, account, make_jpeg(8, 8))).media.media_id
    await create_post(mesh, account, [(media_id, "")])  # an album counts once, whatever its images

    first = await stub(mesh).ListUserPhotos(
        photo_pb2.ListUserPhotosRequest(user_id=account.user_id, page_size=2), metadata=auth(account.token)
    )
    rest = await stub(mesh).ListUserPhotos(
        photo_pb2.ListUserPhotosRequest(user_id=account.user_id, page_size=2, page_token=first.next_page_token),
        metadata=auth(account.token),
    )

    assert (first.total_size, len(first.photos), len(rest.photos)) == (4, 2, 2)
    assert rest.total_size == 0  # counted once, on the first page
