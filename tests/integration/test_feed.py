"""Home feeds end to end through the real mesh: post, follow, unfollow, delete, paging, access."""

from __future__ import annotations

import grpc
import pytest

from shutter.feed.v1 import feed_pb2
from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from shutter.user.v1 import user_pb2, user_pb2_grpc
from tests.support.feeds import feed_has, feed_items, feed_lacks, feed_page, feed_photo_ids, feed_stub
from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg, upload
from tests.support.rich_status import field_violations
from tests.support.users import SignedUp, sign_up, sign_up_many
from tests.support.waiting import eventually

JPEG = make_jpeg(32, 24)


async def post(mesh: Mesh, author: SignedUp, title: str = "") -> photo_pb2.Photo:
    return await upload(mesh, author.token, author.user_id, JPEG, title=title)


async def unfollow(mesh: Mesh, follower: SignedUp, followee: SignedUp) -> None:
    await follow_pb2_grpc.FollowServiceStub(mesh.channel("follow")).Unfollow(
        follow_pb2.UnfollowRequest(follower_id=follower.user_id, followee_id=followee.user_id),
        metadata=follower.metadata,
        timeout=10,
    )


async def test_post_reaches_every_follower_and_nobody_else(mesh: Mesh) -> None:
    author, first, second, stranger = await sign_up_many(mesh, 4, "feedpost")
    await first.follow(mesh, author)
    await second.follow(mesh, author)
    photo = await post(mesh, author)

    for follower in (first, second):
        await eventually(lambda f=follower: feed_has(mesh, f, photo.photo_id), explain=lambda: mesh.log_tail("feed"))
    [item] = [i for i in await feed_items(mesh, first.user_id) if i.photo_id == photo.photo_id]
    assert item.author_id == author.user_id
    assert item.posted_at.ToMilliseconds() == photo.created_at.ToMilliseconds()
    # The fan-out for this post is complete (followers have it): others never will.
    assert await feed_photo_ids(mesh, stranger.user_id) == []
    assert photo.photo_id not in await feed_photo_ids(mesh, author.user_id)


async def test_unfollow_removes_the_authors_posts_from_that_feed_only(mesh: Mesh) -> None:
    author, leaver, stayer = await sign_up_many(mesh, 3, "feedunf")
    await leaver.follow(mesh, author)
    await stayer.follow(mesh, author)
    photo = await post(mesh, author)
    await eventually(lambda: feed_has(mesh, leaver, photo.photo_id))
    await eventually(lambda: feed_has(mesh, stayer, photo.photo_id))

    await unfollow(mesh, leaver, author)
    await eventually(lambda: feed_lacks(mesh, leaver, photo.photo_id))
    assert await feed_has(mesh, stayer, photo.photo_id)


async def test_follow_backfills_the_followees_recent_posts(mesh: Mesh) -> None:
    author, newcomer = await sign_up_many(mesh, 2, "feedback")
    older = await post(mesh, author, "older")
    newer = await post(mesh, author, "newer")
    await newcomer.follow(mesh, author)
    await eventually(lambda: feed_has(mesh, newcomer, older.photo_id, newer.photo_id))
    assert await feed_photo_ids(mesh, newcomer.user_id) == [newer.photo_id, older.photo_id]


async def test_deleted_photo_leaves_every_feed(mesh: Mesh) -> None:
    author, first, second = await sign_up_many(mesh, 3, "feeddel")
    await first.follow(mesh, author)
    await second.follow(mesh, author)
    kept = await post(mesh, author, "kept")
    doomed = await post(mesh, author, "doomed")
    for follower in (first, second):
        await eventually(lambda f=follower: feed_has(mesh, f, doomed.photo_id, kept.photo_id))

    await photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo")).DeletePhoto(
        photo_pb2.DeletePhotoRequest(photo_id=doomed.photo_id), metadata=author.metadata, timeout=10
    )
    for follower in (first, second):
        await eventually(lambda f=follower: feed_lacks(mesh, f, doomed.photo_id))
        assert await feed_has(mesh, follower, kept.photo_id)


async def test_deleted_user_vanishes_from_feeds_and_loses_their_own(mesh: Mesh) -> None:
    author, follower, followed = await sign_up_many(mesh, 3, "feeduser")
    await follower.follow(mesh, author)
    await author.follow(mesh, followed)
    theirs = await post(mesh, author)
    others = await post(mesh, followed)
    await eventually(lambda: feed_has(mesh, follower, theirs.photo_id))
    await eventually(lambda: feed_has(mesh, author, others.photo_id))

    await user_pb2_grpc.UserServiceStub(mesh.channel("user")).DeleteUser(
        user_pb2.DeleteUserRequest(user_id=author.user_id), metadata=author.metadata, timeout=10
    )
    await eventually(lambda: feed_lacks(mesh, follower, theirs.photo_id))
    # The author's own feed is no longer readable: their token is refused as deleted (the feed service
    # purges it on UserDeleted too, but the API can no longer show it).
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await feed_photo_ids(mesh, author.user_id)
    assert (caught.value.code(), caught.value.details()) == (grpc.StatusCode.UNAUTHENTICATED, "account deleted")


async def test_paging_has_no_gaps_or_repeats_while_new_posts_arrive(mesh: Mesh) -> None:
    author, reader = await sign_up_many(mesh, 2, "feedpage")
    await reader.follow(mesh, author)
    first_batch = [await post(mesh, author, f"p{i}") for i in range(11)]
    await eventually(lambda: feed_has(mesh, reader, first_batch[-1].photo_id, first_batch[0].photo_id))
    expected = sorted((p.photo_id for p in first_batch), reverse=True)

    seen: list[int] = []
    reply = await feed_page(mesh, reader.user_id, page_size=4)
    seen.extend(i.photo_id for i in reply.items)
    # New posts land at the top while the reader is paging down.
    newcomers = [await post(mesh, author, f"new{i}") for i in range(3)]
    await eventually(lambda: feed_has(mesh, reader, newcomers[-1].photo_id))
    while reply.next_page_token:
        reply = await feed_page(mesh, reader.user_id, page_size=4, page_token=reply.next_page_token)
        assert len(reply.items) <= 4
        seen.extend(i.photo_id for i in reply.items)

    assert seen == expected
    everything = await feed_photo_ids(mesh, reader.user_id)
    assert everything == sorted(expected + [p.photo_id for p in newcomers], reverse=True)


async def test_only_the_owner_reads_a_feed(mesh: Mesh) -> None:
    owner, other = await sign_up_many(mesh, 2, "feedown")
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await feed_page(mesh, owner.user_id, token=other.token)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await feed_stub(mesh).GetFeed(feed_pb2.GetFeedRequest(user_id=owner.user_id), timeout=10)
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"user_id": -5}, "user_id"),
        ({"page_size": -1}, "page_size"),
        ({"page_token": "not a token!"}, "page_token"),
        # Well-formed base64 JSON, but not a cursor this service made.
        ({"page_token": "eyJiZWZvcmUiOiJ4In0"}, "page_token"),
    ],
)
async def test_bad_requests_name_the_field(mesh: Mesh, fields: dict[str, object], field: str) -> None:
    reader = await sign_up(mesh, sign_in=False)
    request = feed_pb2.GetFeedRequest(**{"user_id": reader.user_id, **fields})  # type: ignore[arg-type]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await feed_stub(mesh).GetFeed(request, metadata=reader.metadata, timeout=10)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(field_violations(error.value)) == [field]
