"""Notifications on the real mesh: likes, comments, follows and mentions become notifications for the
right person (never oneself), grouped, counted unread, marked read, withdrawn when undone, purged with
photos and users; WatchNotifications and WatchFeed deliver them live, resume from a position, and are
bounded per user."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from services.runtime.events import new_meta
from services.runtime.ids import IdGenerator, min_id_at
from shutter.comment.v1 import comment_pb2, comment_pb2_grpc
from shutter.events.v1 import events_pb2
from shutter.feed.v1 import feed_pb2, feed_pb2_grpc
from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.notification.v1 import notification_pb2 as pb
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from tests.support.mesh import Mesh
from tests.support.notifications import Watch, groups_of, notifications, watching
from tests.support.rich_status import field_violations
from tests.support.social import new_photo, publish_event, user_deleted
from tests.support.users import SignedUp, sign_up_many
from tests.support.waiting import eventually

LIKE, COMMENT, FOLLOW, MENTION = (
    pb.NOTIFICATION_TYPE_LIKE,
    pb.NOTIFICATION_TYPE_COMMENT,
    pb.NOTIFICATION_TYPE_FOLLOW,
    pb.NOTIFICATION_TYPE_MENTION,
)
# A generous bound for "live": the figure that matters (p99 delivery) is measured by `make bench`.
LIVE_DEADLINE = 5.0


async def like(mesh: Mesh, photo_id: int, who: SignedUp) -> None:
    await like_pb2_grpc.LikeServiceStub(mesh.channel("like")).LikePhoto(
        like_pb2.LikePhotoRequest(photo_id=photo_id), metadata=who.metadata, timeout=10
    )


async def unlike(mesh: Mesh, photo_id: int, who: SignedUp) -> None:
    await like_pb2_grpc.LikeServiceStub(mesh.channel("like")).UnlikePhoto(
        like_pb2.UnlikePhotoRequest(photo_id=photo_id), metadata=who.metadata, timeout=10
    )


def is_notification(kind: int, actor: SignedUp) -> object:
    return lambda update: update.notification.type == kind and update.notification.actor_id == actor.user_id


async def test_a_like_reaches_the_owners_watcher_and_an_unlike_withdraws_it(mesh: Mesh) -> None:
    owner, fan = await sign_up_many(mesh, 2)
    photo = await new_photo(mesh, owner)
    async with watching(mesh, owner) as watch:
        started = time.monotonic()
        await like(mesh, photo.photo_id, fan)
        update = await watch.next(is_notification(LIKE, fan), timeout=LIVE_DEADLINE)
        print(f"like → watcher: {(time.monotonic() - started) * 1000:.0f} ms")
        assert update.notification.photo_id == photo.photo_id
        assert update.position == update.notification.notification_id
        assert update.unread_count == 1
        [group] = await groups_of(mesh, owner)
        assert (group.type, group.notifications_count, list(group.latest_actor_ids)) == (LIKE, 1, [fan.user_id])
        assert group.unread is True

        await unlike(mesh, photo.photo_id, fan)
        withdrawn = await watch.next(lambda u: u.withdrawn_id, timeout=LIVE_DEADLINE)
        assert withdrawn.withdrawn_id == update.position
        assert withdrawn.unread_count == 0
    assert await groups_of(mesh, owner) == []


async def test_thirty_likes_from_thirty_users_are_one_group(mesh: Mesh) -> None:
    owner, *fans = await sign_up_many(mesh, 31)
    photo = await new_photo(mesh, owner)
    for fan in fans:  # in order, so the newest actors are known
        await like(mesh, photo.photo_id, fan)

    async def one_group_of_thirty() -> list[pb.NotificationGroup]:
        groups = await groups_of(mesh, owner)
        assert [(g.type, g.notifications_count) for g in groups] == [(LIKE, 30)]
        return groups

    [group] = await eventually(one_group_of_thirty)
    assert group.group_key == f"like:{photo.photo_id}"
    assert set(group.latest_actor_ids) <= {fan.user_id for fan in fans}
    assert len(group.latest_actor_ids) == 3
    count = await notifications(mesh).GetUnreadCount(pb.GetUnreadCountRequest(), metadata=owner.metadata, timeout=10)
    assert count.unread_count == 30


async def test_comments_follows_and_mentions_notify_and_undoing_withdraws(mesh: Mesh) -> None:
    owner, ada, bob = await sign_up_many(mesh, 3)
    photo = await new_photo(mesh, owner)
    comments = comment_pb2_grpc.CommentServiceStub(mesh.channel("comment"))
    posted = await comments.PostComment(
        comment_pb2.PostCommentRequest(photo_id=photo.photo_id, text="lovely"), metadata=ada.metadata, timeout=10
    )
    await comments.PostComment(  # one's own comment notifies nobody
        comment_pb2.PostCommentRequest(photo_id=photo.photo_id, text="thanks"), metadata=owner.metadata, timeout=10
    )
    await bob.follow(mesh, owner)
    # Mentions come with captions (another issue): the event carries the mentioned ids, and that is all it takes.
    mention = events_pb2.PhotoPosted(
        meta=new_meta(IdGenerator(4000), "photo-test"), photo_id=photo.photo_id, user_id=owner.user_id
    )
    mention.mentioned_user_ids.extend([ada.user_id, owner.user_id])
    await publish_event(mesh, mention)

    async def owner_has_comment_and_follow() -> list[pb.NotificationGroup]:
        groups = await groups_of(mesh, owner)
        assert sorted((g.type, tuple(g.latest_actor_ids)) for g in groups) == sorted(
            [(COMMENT, (ada.user_id,)), (FOLLOW, (bob.user_id,))]
        )
        return groups

    groups = await eventually(owner_has_comment_and_follow)
    assert next(g for g in groups if g.type == COMMENT).comment_id == posted.comment.comment_id
    [mentioned] = await eventually(lambda: groups_of(mesh, ada))
    assert (mentioned.type, mentioned.photo_id, list(mentioned.latest_actor_ids)) == (
        MENTION,
        photo.photo_id,
        [owner.user_id],
    )
    follows = await groups_of(mesh, owner, types=[FOLLOW])
    assert [g.type for g in follows] == [FOLLOW]

    await comments.DeleteComment(
        comment_pb2.DeleteCommentRequest(photo_id=photo.photo_id, comment_id=posted.comment.comment_id),
        metadata=ada.metadata,
        timeout=10,
    )
    await follow_pb2_grpc.FollowServiceStub(mesh.channel("follow")).Unfollow(
        follow_pb2.UnfollowRequest(follower_id=bob.user_id, followee_id=owner.user_id),
        metadata=bob.metadata,
        timeout=10,
    )
    await eventually(lambda: _empty(groups_of(mesh, owner)))


async def _empty(groups: object) -> bool:
    return await groups == []  # type: ignore[misc]


async def test_unread_count_and_mark_read_up_to_a_position(mesh: Mesh) -> None:
    owner, *fans = await sign_up_many(mesh, 4)
    photos = [await new_photo(mesh, owner) for _ in range(3)]
    for photo, fan in zip(photos, fans, strict=True):
        await like(mesh, photo.photo_id, fan)
    groups = await eventually(lambda: _count(groups_of(mesh, owner), 3))
    stub = notifications(mesh)
    middle = groups[1].position
    marked = await stub.MarkNotificationsRead(
        pb.MarkNotificationsReadRequest(up_to_position=middle), metadata=owner.metadata, timeout=10
    )
    assert (marked.unread_count, marked.read_up_to) == (1, middle)
    back = await stub.MarkNotificationsRead(
        pb.MarkNotificationsReadRequest(up_to_position=middle - 1), metadata=owner.metadata, timeout=10
    )
    assert (back.unread_count, back.read_up_to) == (1, middle)  # never moves back
    assert [g.unread for g in await groups_of(mesh, owner)] == [True, False, False]
    everything = await stub.MarkNotificationsRead(
        pb.MarkNotificationsReadRequest(), metadata=owner.metadata, timeout=10
    )
    assert everything.unread_count == 0
    page = await stub.ListNotifications(pb.ListNotificationsRequest(page_size=2), metadata=owner.metadata, timeout=10)
    rest = await stub.ListNotifications(
        pb.ListNotificationsRequest(page_size=2, page_token=page.next_page_token), metadata=owner.metadata, timeout=10
    )
    assert [g.position for g in [*page.groups, *rest.groups]] == [g.position for g in groups]
    assert rest.next_page_token == ""


async def _count(groups: object, wanted: int) -> list[pb.NotificationGroup]:
    found = await groups  # type: ignore[misc]
    assert len(found) == wanted
    return found


async def test_reconnecting_after_a_position_gets_what_was_missed(mesh: Mesh) -> None:
    owner, ada, bob = await sign_up_many(mesh, 3)
    photo = await new_photo(mesh, owner)
    async with watching(mesh, owner) as watch:
        await like(mesh, photo.photo_id, ada)
        seen = await watch.next(is_notification(LIKE, ada), timeout=LIVE_DEADLINE)
    await like(mesh, photo.photo_id, bob)  # while nobody watches
    await bob.follow(mesh, owner)
    await eventually(lambda: _count(groups_of(mesh, owner), 2))
    async with watching(mesh, owner, after_position=seen.position) as again:
        missed = [u for u in again.received if u.position]
    assert [(u.notification.type, u.notification.actor_id) for u in missed] == [
        (LIKE, bob.user_id),
        (FOLLOW, bob.user_id),
    ]
    assert all(u.position > seen.position for u in missed)


async def test_watching_is_for_the_owner_and_capped_per_user(mesh: Mesh) -> None:
    owner, other = await sign_up_many(mesh, 2)
    stub = notifications(mesh)
    denied = Watch(
        stub.WatchNotifications(pb.WatchNotificationsRequest(user_id=owner.user_id), metadata=other.metadata)
    )
    await asyncio.wait_for(denied._task, 10)
    assert denied.error is not None and denied.error.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as listed:
        await stub.ListNotifications(pb.ListNotificationsRequest(user_id=owner.user_id), metadata=other.metadata)
    assert listed.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stub.MarkNotificationsRead(pb.MarkNotificationsReadRequest(up_to_position=-1), metadata=owner.metadata)
    assert field_violations(bad.value) == {"up_to_position": "must be a position, or 0 for everything so far"}
    with pytest.raises(grpc.aio.AioRpcError) as bad_type:
        await stub.ListNotifications(pb.ListNotificationsRequest(types=[99]), metadata=owner.metadata)  # type: ignore[list-item]
    assert bad_type.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    opened = [Watch(stub.WatchNotifications(pb.WatchNotificationsRequest(), metadata=owner.metadata)) for _ in range(5)]
    try:
        for watch in opened:
            await watch.next(lambda update: not update.position)
        extra = Watch(stub.WatchNotifications(pb.WatchNotificationsRequest(), metadata=owner.metadata))
        await asyncio.wait_for(extra._task, 10)
        assert extra.error is not None and extra.error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        await opened[0].close()  # a closed stream frees its place
        await eventually(lambda: _opens(stub, owner))
    finally:
        for watch in opened:
            await watch.close()


async def _opens(stub: object, owner: SignedUp) -> bool:
    watch = Watch(stub.WatchNotifications(pb.WatchNotificationsRequest(), metadata=owner.metadata))  # type: ignore[attr-defined]
    try:
        await watch.next(lambda update: not update.position)
        return True
    except AssertionError:
        return False
    finally:
        await watch.close()


async def test_a_deleted_photo_and_a_deleted_user_purge_their_notifications(mesh: Mesh) -> None:
    owner, ada, bob = await sign_up_many(mesh, 3)
    photo = await new_photo(mesh, owner)
    other_photo = await new_photo(mesh, owner)
    await like(mesh, photo.photo_id, ada)
    await like(mesh, other_photo.photo_id, bob)
    await eventually(lambda: _count(groups_of(mesh, owner), 2))
    await photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo")).DeletePhoto(
        photo_pb2.DeletePhotoRequest(photo_id=photo.photo_id), metadata=owner.metadata, timeout=10
    )
    await publish_event(mesh, user_deleted(bob.user_id))
    await eventually(lambda: _empty(groups_of(mesh, owner)))


async def test_a_follower_watching_the_feed_gets_a_new_post_live_and_on_resuming(mesh: Mesh) -> None:
    author, reader = await sign_up_many(mesh, 2)
    await reader.follow(mesh, author)
    stub = feed_pb2_grpc.FeedServiceStub(mesh.channel("feed"))
    # From a position just before the post: it arrives live or, if the stream opens late, from the store.
    before = min_id_at(int(time.time() * 1000) - 1000)
    watch = Watch(stub.WatchFeed(feed_pb2.WatchFeedRequest(after_position=before), metadata=reader.metadata))
    try:
        started = time.monotonic()
        photo = await new_photo(mesh, author)
        update = await watch.next(lambda u: u.item.photo_id == photo.photo_id, timeout=LIVE_DEADLINE)
        print(f"post → feed watcher: {(time.monotonic() - started) * 1000:.0f} ms")
        assert (update.position, update.item.author_id) == (photo.photo_id, author.user_id)
    finally:
        await watch.close()
    resumed = Watch(stub.WatchFeed(feed_pb2.WatchFeedRequest(after_position=before), metadata=reader.metadata))
    try:
        again = await resumed.next(lambda u: u.position, timeout=10)
        assert again.item.photo_id == photo.photo_id
    finally:
        await resumed.close()
    other = Watch(stub.WatchFeed(feed_pb2.WatchFeedRequest(user_id=author.user_id), metadata=reader.metadata))
    await asyncio.wait_for(other._task, 10)
    assert other.error is not None and other.error.code() == grpc.StatusCode.PERMISSION_DENIED
