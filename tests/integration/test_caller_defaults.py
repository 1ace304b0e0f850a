"""The token says who asks: a field that may only name the caller defaults to the caller when unset (0),
and is still PERMISSION_DENIED when set to someone else. DownloadPhoto defaults to DISPLAY, which anyone
may fetch, instead of ORIGINAL, which only the owner may."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from shutter.comment.v1 import comment_pb2, comment_pb2_grpc
from shutter.feed.v1 import feed_pb2, feed_pb2_grpc
from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from shutter.view.v1 import view_pb2, view_pb2_grpc
from tests.support.mesh import Mesh, auth
from tests.support.photos import make_jpeg, metadata, requests
from tests.support.social import new_photo
from tests.support.users import Identity, sign_up, sign_up_many
from tests.support.waiting import eventually


def likes(mesh: Mesh) -> like_pb2_grpc.LikeServiceStub:
    return like_pb2_grpc.LikeServiceStub(mesh.channel("like"))


def views(mesh: Mesh) -> view_pb2_grpc.ViewServiceStub:
    return view_pb2_grpc.ViewServiceStub(mesh.channel("view"))


async def test_view_photo_and_user_photos_view_as_the_caller(mesh: Mesh) -> None:
    owner, caller = await sign_up_many(mesh, 2)
    photo = await new_photo(mesh, owner)
    await likes(mesh).LikePhoto(
        like_pb2.LikePhotoRequest(photo_id=photo.photo_id, user_id=caller.user_id), metadata=caller.metadata
    )
    as_caller = caller.metadata

    single = await views(mesh).ViewPhoto(view_pb2.ViewPhotoRequest(photo_id=photo.photo_id), metadata=as_caller)
    listed = await views(mesh).ViewUserPhotos(view_pb2.ViewUserPhotosRequest(user_id=owner.user_id), metadata=as_caller)

    assert (single.view.photo, single.view.viewer_has_liked, single.view.like_count) == (photo, True, 1)
    assert [(v.photo.photo_id, v.viewer_has_liked) for v in listed.views] == [(photo.photo_id, True)]
    owners_view = await views(mesh).ViewPhoto(
        view_pb2.ViewPhotoRequest(photo_id=photo.photo_id), metadata=owner.metadata
    )
    assert owners_view.view.viewer_has_liked is False  # the owner's own view, not a fixed viewer


async def test_get_feed_reads_the_callers_feed(mesh: Mesh) -> None:
    reader, author = await sign_up_many(mesh, 2, prefix="feeddef")
    await reader.follow(mesh, author)
    photo = await new_photo(mesh, author)
    stub = feed_pb2_grpc.FeedServiceStub(mesh.channel("feed"))

    async def unset_feed() -> None:
        reply = await stub.GetFeed(feed_pb2.GetFeedRequest(), metadata=reader.metadata, timeout=10)
        assert [item.photo_id for item in reply.items] == [photo.photo_id]

    await eventually(unset_feed)


async def test_like_summaries_answer_for_the_caller_and_for_no_one_when_a_service_asks(mesh: Mesh) -> None:
    owner, caller = await sign_up_many(mesh, 2)
    photo = await new_photo(mesh, owner)
    liked = await likes(mesh).LikePhoto(like_pb2.LikePhotoRequest(photo_id=photo.photo_id), metadata=caller.metadata)
    assert (liked.created, liked.summary.viewer_has_liked) == (True, True)

    as_caller = caller.metadata
    summary = await likes(mesh).GetLikeSummary(
        like_pb2.GetLikeSummaryRequest(photo_id=photo.photo_id), metadata=as_caller
    )
    batch = await likes(mesh).BatchGetLikeSummaries(
        like_pb2.BatchGetLikeSummariesRequest(photo_ids=[photo.photo_id]), metadata=as_caller
    )
    as_service = auth(mesh.tokens.issue_service_token("view"))
    counts_only = await likes(mesh).GetLikeSummary(
        like_pb2.GetLikeSummaryRequest(photo_id=photo.photo_id), metadata=as_service
    )
    assert (summary.summary.like_count, summary.summary.viewer_has_liked) == (1, True)
    assert batch.summaries[0].viewer_has_liked is True
    assert (counts_only.summary.like_count, counts_only.summary.viewer_has_liked) == (1, False)

    unliked = await likes(mesh).UnlikePhoto(like_pb2.UnlikePhotoRequest(photo_id=photo.photo_id), metadata=as_caller)
    assert (unliked.removed, unliked.summary.like_count) == (True, 0)


async def test_a_comment_is_posted_as_the_caller(mesh: Mesh) -> None:
    owner, caller = await sign_up_many(mesh, 2)
    photo = await new_photo(mesh, owner)
    reply = await comment_pb2_grpc.CommentServiceStub(mesh.channel("comment")).PostComment(
        comment_pb2.PostCommentRequest(photo_id=photo.photo_id, text="nice"), metadata=caller.metadata
    )
    assert reply.comment.user_id == caller.user_id


async def test_follow_and_unfollow_as_the_caller(mesh: Mesh) -> None:
    follower, followee = await sign_up_many(mesh, 2, prefix="followdef")
    stub = follow_pb2_grpc.FollowServiceStub(mesh.channel("follow"))
    followed = await stub.Follow(follow_pb2.FollowRequest(followee_id=followee.user_id), metadata=follower.metadata)
    assert (followed.created, followed.follow.follower_id) == (True, follower.user_id)
    removed = await stub.Unfollow(follow_pb2.UnfollowRequest(followee_id=followee.user_id), metadata=follower.metadata)
    assert removed.removed


async def test_an_upload_belongs_to_the_caller(mesh: Mesh) -> None:
    caller = await sign_up(mesh, sign_in=False)
    reply = await photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo")).UploadPhoto(
        requests(metadata(0, title="mine"), make_jpeg(32, 24)), metadata=caller.metadata, timeout=30
    )
    assert (reply.created, reply.photo.user_id) == (True, caller.user_id)


async def test_download_defaults_to_display_which_anyone_may_fetch(mesh: Mesh) -> None:
    owner, stranger = await sign_up_many(mesh, 2)
    photo = await new_photo(mesh, owner)
    stream = photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo")).DownloadPhoto(
        photo_pb2.DownloadPhotoRequest(photo_id=photo.photo_id), metadata=stranger.metadata, timeout=10
    )
    messages = [message async for message in stream]
    info = messages[0].info
    assert info.variant == photo_pb2.PHOTO_VARIANT_DISPLAY
    assert info.content_type == "image/jpeg"
    assert sum(len(m.chunk) for m in messages[1:]) == info.byte_size > 0


Call = Callable[[Mesh, Identity, int], Awaitable[Any]]


async def _view_photo(mesh: Mesh, caller: Identity, other: int) -> Any:
    photo = await new_photo(mesh, caller)
    request = view_pb2.ViewPhotoRequest(photo_id=photo.photo_id, user_id=other)
    return await views(mesh).ViewPhoto(request, metadata=caller.metadata)


async def _view_user_photos(mesh: Mesh, caller: Identity, other: int) -> Any:
    request = view_pb2.ViewUserPhotosRequest(user_id=caller.user_id, viewer_id=other)
    return await views(mesh).ViewUserPhotos(request, metadata=caller.metadata)


async def _get_feed(mesh: Mesh, caller: Identity, other: int) -> Any:
    stub = feed_pb2_grpc.FeedServiceStub(mesh.channel("feed"))
    return await stub.GetFeed(feed_pb2.GetFeedRequest(user_id=other), metadata=caller.metadata)


async def _like_summary(mesh: Mesh, caller: Identity, other: int) -> Any:
    photo = await new_photo(mesh, caller)
    request = like_pb2.GetLikeSummaryRequest(photo_id=photo.photo_id, viewer_id=other)
    return await likes(mesh).GetLikeSummary(request, metadata=caller.metadata)


async def _like_photo(mesh: Mesh, caller: Identity, other: int) -> Any:
    photo = await new_photo(mesh, caller)
    request = like_pb2.LikePhotoRequest(photo_id=photo.photo_id, user_id=other)
    return await likes(mesh).LikePhoto(request, metadata=caller.metadata)


async def _upload(mesh: Mesh, caller: Identity, other: int) -> Any:
    stub = photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo"))
    return await stub.UploadPhoto(requests(metadata(other), make_jpeg(8, 8)), metadata=caller.metadata)


@pytest.mark.parametrize(
    "call",
    [_view_photo, _view_user_photos, _get_feed, _like_summary, _like_photo, _upload],
    ids=["ViewPhoto", "ViewUserPhotos", "GetFeed", "GetLikeSummary", "LikePhoto", "UploadPhoto"],
)
async def test_naming_someone_else_is_still_permission_denied(mesh: Mesh, call: Call) -> None:
    caller, other = await sign_up_many(mesh, 2)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(mesh, caller, other.user_id)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, caught.value.details()
