"""Views when a dependency is down or stuck: Like and Comment degrade to marked parts, Photo fails the view.

Each test puts the mesh back the way it found it (restart / SIGCONT) even when it fails.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator

import grpc
import pytest

from shutter.photo.v1 import photo_pb2
from shutter.view.v1 import view_pb2, view_pb2_grpc
from tests.support.mesh import Mesh
from tests.support.social import new_photo
from tests.support.users import Identity, sign_up
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

LIKES, COMMENTS = view_pb2.VIEW_PART_LIKES, view_pb2.VIEW_PART_COMMENTS


async def view_photo(mesh: Mesh, photo_id: int, viewer: Identity, timeout: float = 10) -> view_pb2.PhotoView:
    reply = await view_pb2_grpc.ViewServiceStub(mesh.channel("view")).ViewPhoto(
        view_pb2.ViewPhotoRequest(photo_id=photo_id, user_id=viewer.user_id), metadata=viewer.metadata, timeout=timeout
    )
    return reply.view


async def view_user(mesh: Mesh, owner: int, viewer: Identity) -> list[view_pb2.PhotoView]:
    reply = await view_pb2_grpc.ViewServiceStub(mesh.channel("view")).ViewUserPhotos(
        view_pb2.ViewUserPhotosRequest(user_id=owner, viewer_id=viewer.user_id), metadata=viewer.metadata, timeout=10
    )
    return list(reply.views)


@pytest.fixture
async def photo(mesh: Mesh) -> photo_pb2.Photo:
    return await new_photo(mesh, await sign_up(mesh, sign_in=False), title="degraded")


async def recovered(mesh: Mesh, photo: photo_pb2.Photo) -> None:
    """After a dependency is back, views become whole again once the view's channel has reconnected
    (gRPC's reconnect backoff grows while a peer is down, so this can take several seconds)."""
    viewer = await sign_up(mesh, sign_in=False)

    async def whole() -> None:
        try:
            view = await view_photo(mesh, photo.photo_id, viewer)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            raise AssertionError("the view is still UNAVAILABLE") from exc
        assert list(view.unavailable_parts) == []

    await eventually(whole, timeout=60)


@pytest.fixture
async def like_stopped(mesh: Mesh, photo: photo_pb2.Photo) -> AsyncIterator[None]:
    mesh.stop("like")
    try:
        yield
    finally:
        mesh.start_service("like")
        await mesh.wait_serving("like")
        await recovered(mesh, photo)  # the next test must not meet the view's channel still backing off


@pytest.fixture
async def comment_stopped(mesh: Mesh, photo: photo_pb2.Photo) -> AsyncIterator[None]:
    mesh.stop("comment")
    try:
        yield
    finally:
        mesh.start_service("comment")
        await mesh.wait_serving("comment")
        await recovered(mesh, photo)  # the next test must not meet the view's channel still backing off


async def test_like_service_down_marks_likes_unavailable(
    mesh: Mesh, photo: photo_pb2.Photo, like_stopped: None
) -> None:
    viewer = await sign_up(mesh, sign_in=False)
    view = await view_photo(mesh, photo.photo_id, viewer)
    assert view.photo == photo
    assert list(view.unavailable_parts) == [LIKES]
    assert (view.like_count, view.viewer_has_liked) == (0, False)
    views = await view_user(mesh, photo.user_id, viewer)
    assert [v.photo.photo_id for v in views] == [photo.photo_id]
    assert list(views[0].unavailable_parts) == [LIKES]


async def test_comment_service_down_marks_comments_unavailable(
    mesh: Mesh, photo: photo_pb2.Photo, comment_stopped: None
) -> None:
    viewer = await sign_up(mesh, sign_in=False)
    view = await view_photo(mesh, photo.photo_id, viewer)
    assert view.photo == photo
    assert list(view.unavailable_parts) == [COMMENTS]
    assert (view.comment_count, list(view.comments)) == (0, [])
    views = await view_user(mesh, photo.user_id, viewer)
    assert list(views[0].unavailable_parts) == [COMMENTS]


async def test_views_recover_after_like_and_comment_restart(mesh: Mesh, photo: photo_pb2.Photo) -> None:
    await mesh.restart("like")
    await mesh.restart("comment")
    await recovered(mesh, photo)


async def test_a_stuck_like_service_cannot_hold_the_view_past_its_deadline(mesh: Mesh, photo: photo_pb2.Photo) -> None:
    """SIGSTOP keeps Like's socket open but silent: a real slow dependency, not a refused connection."""
    viewer = await sign_up(mesh, sign_in=False)
    mesh.send_signal("like", signal.SIGSTOP)
    try:
        # The caller allows 2 s; Like's budget is a part of that, so the photo still arrives in time.
        view = await view_photo(mesh, photo.photo_id, viewer, timeout=2)
        assert view.photo == photo
        assert list(view.unavailable_parts) == [LIKES]
        views = await view_user(mesh, photo.user_id, viewer)
        assert list(views[0].unavailable_parts) == [LIKES]
    finally:
        mesh.send_signal("like", signal.SIGCONT)
    await recovered(mesh, photo)


async def test_photo_service_down_is_unavailable_and_unknown_stays_not_found(
    mesh: Mesh, photo: photo_pb2.Photo
) -> None:
    viewer = await sign_up(mesh, sign_in=False)
    mesh.stop("photo")
    try:
        for photo_id in (photo.photo_id, 999999999999):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await view_photo(mesh, photo_id, viewer)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await view_user(mesh, photo.user_id, viewer)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        mesh.start_service("photo")
        await mesh.wait_serving("photo")
    await recovered(mesh, photo)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await view_photo(mesh, 999999999999, viewer)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
