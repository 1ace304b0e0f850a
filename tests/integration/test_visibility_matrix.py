"""The authorization matrix over gRPC: every read RPC × every relationship → the answer the one table
(tests/support/privacy.py EXPECTED) gives. The HTTP half is generated from the same table."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc
import pytest

from shutter.comment.v1 import comment_pb2, comment_pb2_grpc
from shutter.follow.v1 import follow_pb2
from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from shutter.search.v1 import search_pb2, search_pb2_grpc
from shutter.user.v1 import user_pb2, user_pb2_grpc
from shutter.view.v1 import view_pb2, view_pb2_grpc
from tests.support.feeds import feed_has, feed_page
from tests.support.mesh import Mesh
from tests.support.privacy import (
    CASES,
    DENIED,
    HIDDEN,
    NOT_FOUND,
    OK,
    SHOWN,
    STATES,
    Scene,
    case_id,
    follows,
    make_scene,
)
from tests.support.waiting import eventually

_CODES = {grpc.StatusCode.NOT_FOUND: NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED: DENIED}


def _shown(found: bool) -> str:
    return SHOWN if found else HIDDEN


async def _get_photo(mesh: Mesh, scene: Scene) -> str:
    stub = photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo"))
    reply = await stub.GetPhoto(
        photo_pb2.GetPhotoRequest(photo_id=scene.photo.photo_id), metadata=scene.viewer.metadata, timeout=10
    )
    assert reply.photo.photo_id == scene.photo.photo_id
    return OK


async def _batch_get_photos(mesh: Mesh, scene: Scene) -> str:
    stub = photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo"))
    reply = await stub.BatchGetPhotos(
        photo_pb2.BatchGetPhotosRequest(photo_ids=[scene.photo.photo_id]), metadata=scene.viewer.metadata, timeout=10
    )
    return _shown(any(p.photo_id == scene.photo.photo_id for p in reply.photos))


async def _download(mesh: Mesh, scene: Scene) -> str:
    stub = photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo"))
    request = photo_pb2.DownloadPhotoRequest(photo_id=scene.photo.photo_id, variant=photo_pb2.PHOTO_VARIANT_THUMBNAIL)
    body = 0
    async for message in stub.DownloadPhoto(request, metadata=scene.viewer.metadata, timeout=10):
        body += len(message.chunk)
    assert body > 0
    return OK


async def _list_user_photos(mesh: Mesh, scene: Scene) -> str:
    stub = photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo"))
    reply = await stub.ListUserPhotos(
        photo_pb2.ListUserPhotosRequest(user_id=scene.author.user_id), metadata=scene.viewer.metadata, timeout=10
    )
    return _shown(any(p.photo_id == scene.photo.photo_id for p in reply.photos))


async def _view_photo(mesh: Mesh, scene: Scene) -> str:
    stub = view_pb2_grpc.ViewServiceStub(mesh.channel("view"))
    reply = await stub.ViewPhoto(
        view_pb2.ViewPhotoRequest(photo_id=scene.photo.photo_id), metadata=scene.viewer.metadata, timeout=10
    )
    assert reply.view.photo.photo_id == scene.photo.photo_id
    return OK


async def _view_user_photos(mesh: Mesh, scene: Scene) -> str:
    stub = view_pb2_grpc.ViewServiceStub(mesh.channel("view"))
    reply = await stub.ViewUserPhotos(
        view_pb2.ViewUserPhotosRequest(user_id=scene.author.user_id), metadata=scene.viewer.metadata, timeout=10
    )
    return _shown(any(v.photo.photo_id == scene.photo.photo_id for v in reply.views))


async def _get_feed(mesh: Mesh, scene: Scene) -> str:
    reply = await feed_page(mesh, scene.viewer.user_id, token=scene.viewer.token)
    return _shown(any(item.photo_id == scene.photo.photo_id for item in reply.items))


async def _list_followers(mesh: Mesh, scene: Scene) -> str:
    await follows(mesh).ListFollowers(
        follow_pb2.ListFollowersRequest(user_id=scene.author.user_id), metadata=scene.viewer.metadata, timeout=10
    )
    return OK


async def _list_followees(mesh: Mesh, scene: Scene) -> str:
    await follows(mesh).ListFollowees(
        follow_pb2.ListFolloweesRequest(user_id=scene.author.user_id), metadata=scene.viewer.metadata, timeout=10
    )
    return OK


async def _follow_counts(mesh: Mesh, scene: Scene) -> str:
    await follows(mesh).GetFollowCounts(
        follow_pb2.GetFollowCountsRequest(user_id=scene.author.user_id), metadata=scene.viewer.metadata, timeout=10
    )
    return OK


def _likes(mesh: Mesh) -> like_pb2_grpc.LikeServiceStub:
    return like_pb2_grpc.LikeServiceStub(mesh.channel("like"))


def _comments(mesh: Mesh) -> comment_pb2_grpc.CommentServiceStub:
    return comment_pb2_grpc.CommentServiceStub(mesh.channel("comment"))


async def _like_summary(mesh: Mesh, scene: Scene) -> str:
    reply = await _likes(mesh).GetLikeSummary(
        like_pb2.GetLikeSummaryRequest(photo_id=scene.photo.photo_id), metadata=scene.viewer.metadata, timeout=10
    )
    return _shown(reply.summary.like_count == 1)


async def _like_summaries(mesh: Mesh, scene: Scene) -> str:
    reply = await _likes(mesh).BatchGetLikeSummaries(
        like_pb2.BatchGetLikeSummariesRequest(photo_ids=[scene.photo.photo_id]),
        metadata=scene.viewer.metadata,
        timeout=10,
    )
    return _shown(reply.summaries[0].like_count == 1)


async def _likers(mesh: Mesh, scene: Scene) -> str:
    reply = await _likes(mesh).ListLikers(
        like_pb2.ListLikersRequest(photo_id=scene.photo.photo_id), metadata=scene.viewer.metadata, timeout=10
    )
    return _shown(any(liker.user_id == scene.author.user_id for liker in reply.likers))


async def _list_comments(mesh: Mesh, scene: Scene) -> str:
    reply = await _comments(mesh).ListComments(
        comment_pb2.ListCommentsRequest(photo_id=scene.photo.photo_id), metadata=scene.viewer.metadata, timeout=10
    )
    return _shown(any(comment.user_id == scene.author.user_id for comment in reply.comments))


async def _comment_counts(mesh: Mesh, scene: Scene) -> str:
    reply = await _comments(mesh).BatchGetCommentCounts(
        comment_pb2.BatchGetCommentCountsRequest(photo_ids=[scene.photo.photo_id]),
        metadata=scene.viewer.metadata,
        timeout=10,
    )
    return _shown(reply.counts[0].comment_count == 1)


async def _search(mesh: Mesh, scene: Scene) -> str:
    reply = await search_pb2_grpc.SearchServiceStub(mesh.channel("search")).SearchPhotos(
        search_pb2.SearchPhotosRequest(tag=scene.tag), metadata=scene.viewer.metadata, timeout=10
    )
    return _shown(any(hit.photo_id == scene.photo.photo_id for hit in reply.hits))


async def _get_user(mesh: Mesh, scene: Scene) -> str:
    reply = await user_pb2_grpc.UserServiceStub(mesh.channel("user")).GetUser(
        user_pb2.GetUserRequest(user_id=scene.author.user_id), metadata=scene.viewer.metadata, timeout=10
    )
    assert reply.user.username == scene.author.username  # the name always shows
    return _shown(reply.user.bio == scene.bio)


async def _batch_get_users(mesh: Mesh, scene: Scene) -> str:
    reply = await user_pb2_grpc.UserServiceStub(mesh.channel("user")).BatchGetUsers(
        user_pb2.BatchGetUsersRequest(user_ids=[scene.author.user_id, scene.viewer.user_id]),
        metadata=scene.viewer.metadata,
        timeout=10,
    )
    found = {user.user_id: user for user in reply.users}
    assert scene.viewer.user_id in found  # oneself, always
    if scene.author.user_id not in found:
        return NOT_FOUND
    assert found[scene.author.user_id].username == scene.author.username
    return _shown(found[scene.author.user_id].bio == scene.bio)


async def _check_following(mesh: Mesh, scene: Scene) -> str:
    """Whom the author follows, asked one id at a time: a point form of their followees list."""
    await follows(mesh).CheckFollowing(
        follow_pb2.CheckFollowingRequest(follower_id=scene.author.user_id, followee_ids=[scene.viewer.user_id]),
        metadata=scene.viewer.metadata,
        timeout=10,
    )
    return OK


CALLS: dict[str, Callable[[Mesh, Scene], Awaitable[str]]] = {
    "photo.GetPhoto": _get_photo,
    "photo.BatchGetPhotos": _batch_get_photos,
    "photo.DownloadPhoto": _download,
    "photo.ListUserPhotos": _list_user_photos,
    "view.ViewPhoto": _view_photo,
    "view.ViewUserPhotos": _view_user_photos,
    "feed.GetFeed": _get_feed,
    "follow.ListFollowers": _list_followers,
    "follow.ListFollowees": _list_followees,
    "follow.GetFollowCounts": _follow_counts,
    "follow.CheckFollowing": _check_following,
    "like.GetLikeSummary": _like_summary,
    "like.BatchGetLikeSummaries": _like_summaries,
    "like.ListLikers": _likers,
    "comment.ListComments": _list_comments,
    "comment.BatchGetCommentCounts": _comment_counts,
    "search.SearchPhotos": _search,
    "user.GetUser": _get_user,
    "user.BatchGetUsers": _batch_get_users,
}


async def answer(mesh: Mesh, rpc: str, scene: Scene) -> str:
    try:
        return await CALLS[rpc](mesh, scene)
    except grpc.aio.AioRpcError as exc:
        if exc.code() in _CODES:
            return _CODES[exc.code()]
        raise


@pytest.fixture(scope="module")
async def scenes(mesh: Mesh) -> dict[str, Scene]:
    async def wait_in_feed(viewer: object, photo_id: int) -> None:
        await eventually(lambda: feed_has(mesh, viewer, photo_id), timeout=30)  # type: ignore[arg-type]

    built = await asyncio.gather(*(make_scene(mesh, state, wait_in_feed) for state in STATES))
    return dict(zip(STATES, built, strict=True))


def test_every_read_rpc_is_in_the_table() -> None:
    assert set(CALLS) == {rpc for rpc, _, _ in CASES}


@pytest.mark.parametrize(("rpc", "state", "expected"), CASES, ids=[case_id(*case) for case in CASES])
async def test_matrix(mesh: Mesh, scenes: dict[str, Scene], rpc: str, state: str, expected: str) -> None:
    scene = scenes[state]

    async def holds() -> None:
        assert await answer(mesh, rpc, scene) == expected

    # Fan-out is asynchronous and a change reaches every cache within 1 s: the answer must settle on the table's.
    await eventually(holds, timeout=10, interval=0.1)
