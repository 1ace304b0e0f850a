"""Profile pictures over real gRPC on the shared mesh: uploaded by their owner, cropped square at 320 and 150
px without EXIF, carried as URLs by every user-bearing answer (BatchGetUsers included), refused for others."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import grpc
import pytest
from PIL import Image

from shutter.user.v1 import user_pb2, user_pb2_grpc
from tests.support.mesh import Mesh
from tests.support.photos import gps_exif, make_jpeg
from tests.support.rich_status import field_violations
from tests.support.users import SignedUp, sign_up_many


def users(mesh: Mesh) -> user_pb2_grpc.UserServiceStub:
    return user_pb2_grpc.UserServiceStub(mesh.channel("user"))


async def stream(user_id: int, data: bytes) -> AsyncIterator[user_pb2.UploadAvatarRequest]:
    yield user_pb2.UploadAvatarRequest(metadata=user_pb2.AvatarMetadata(user_id=user_id))
    for start in range(0, len(data), 32 * 1024):
        yield user_pb2.UploadAvatarRequest(chunk=data[start : start + 32 * 1024])


async def upload(mesh: Mesh, who: SignedUp, data: bytes, user_id: int = 0) -> user_pb2.User:
    return (await users(mesh).UploadAvatar(stream(user_id, data), metadata=who.metadata, timeout=30)).user


async def download(mesh: Mesh, who: SignedUp, user_id: int, size: int) -> tuple[user_pb2.AvatarInfo, bytes]:
    info, body = user_pb2.AvatarInfo(), bytearray()
    request = user_pb2.DownloadAvatarRequest(user_id=user_id, size=size)
    async for message in users(mesh).DownloadAvatar(request, metadata=who.metadata, timeout=10):
        if message.WhichOneof("payload") == "info":
            info = message.info
        else:
            body += message.chunk
    return info, bytes(body)


async def test_an_avatar_is_cropped_square_in_two_sizes_and_every_user_answer_carries_it(mesh: Mesh) -> None:
    ada, bob = await sign_up_many(mesh, 2)
    assert not ada.user.avatar_url

    user = await upload(mesh, ada, make_jpeg(640, 360, exif=gps_exif()))

    assert user.avatar_url.startswith(f"/v1/users/{ada.user_id}/avatar?size=AVATAR_SIZE_LARGE&v=")
    assert user.avatar_small_url.startswith(f"/v1/users/{ada.user_id}/avatar?size=AVATAR_SIZE_SMALL&v=")
    for size, pixels in ((user_pb2.AVATAR_SIZE_LARGE, 320), (user_pb2.AVATAR_SIZE_SMALL, 150)):
        info, body = await download(mesh, bob, ada.user_id, size)
        assert (info.content_type, info.byte_size) == ("image/jpeg", len(body))
        with Image.open(io.BytesIO(body)) as image:
            assert image.size == (pixels, pixels) and not image.getexif()  # square, no GPS left
    batch = await users(mesh).BatchGetUsers(
        user_pb2.BatchGetUsersRequest(user_ids=[bob.user_id, ada.user_id]), metadata=bob.metadata
    )
    assert [(u.user_id, u.avatar_url) for u in batch.users] == [(bob.user_id, ""), (ada.user_id, user.avatar_url)]
    got = await users(mesh).GetUser(user_pb2.GetUserRequest(user_id=ada.user_id), metadata=bob.metadata)
    assert got.user.avatar_small_url == user.avatar_small_url

    again = await upload(mesh, ada, make_jpeg(200, 300))
    assert again.avatar_url != user.avatar_url  # a new picture, a new URL: no cache serves the old one


async def test_avatars_are_the_owners_and_images_only(mesh: Mesh) -> None:
    ada, bob = await sign_up_many(mesh, 2)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await upload(mesh, bob, make_jpeg(64, 64), user_id=ada.user_id)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await upload(mesh, ada, b"GIF89a not really")
    assert list(field_violations(caught.value)) == ["chunk"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await download(mesh, ada, bob.user_id, user_pb2.AVATAR_SIZE_SMALL)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
